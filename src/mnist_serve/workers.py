"""Gunicorn's gevent worker, with each response sent as one TCP segment.

With keep-alive off (the default, see `Settings.keepalive`) every connection carries one request
and closes after its response. Gunicorn writes a response in two `send` calls (headers, then
body) and then closes, so the client's kernel receives three segments (headers, body, FIN) and
wakes the client for each. On a small machine, where the client (a load balancer, a load test)
shares the cores, those wake-ups and the loopback TCP work cost more than Flask does.

`TCP_CORK` on the accepted socket tells the kernel to hold partial segments until the socket is
uncorked or closed; the close right after the response flushes headers, body and FIN together.
Except when the client sent more than was read (an answer given before the body was read: 401,
413, a malformed request): closing a socket with unread input resets the connection and drops
what is still queued, so there the answer is flushed (uncorked) before the close, as without
corking. And a request with `Expect: 100-continue` is not corked: its client waits for the
interim "100 Continue" line, which corked would wait for the kernel's 200 ms timer.
Measured by `mnist-serve loadtest` (README, "Defaults chosen by measurement"). With keep-alive
on, corking would hold the tail of each response for up to 200 ms, so this worker corks only
when keep-alive is off (and MNIST_SERVE_TCP_CORK is not false); on platforms without `TCP_CORK` (not Linux) it is the plain gevent worker.

One more change: with TLS on, gevent does each handshake before Gunicorn sees the connection,
so a client that speaks plain HTTP to the HTTPS port (a stray probe) made gevent print a
20-line traceback per connection. Here it is one warning line, worded like Gunicorn's own
"Invalid request" lines; the traceback only at debug level.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import socket
import ssl
import termios

from gunicorn.workers.ggevent import GeventWorker as _GeventWorker

from mnist_serve.config import process_settings

TCP_CORK = getattr(socket, "TCP_CORK", None)


class GeventWorker(_GeventWorker):
    """`gevent`, as `MNIST_SERVE_WORKER_CLASS=auto|gevent` runs it."""

    def init_process(self) -> None:
        self.cork = TCP_CORK is not None and self.cfg.keepalive == 0 and process_settings().tcp_cork
        super().init_process()

    def run(self) -> None:
        import gevent

        hub = gevent.get_hub()
        print_exception = hub.print_exception

        def quiet_tls_errors(context, kind, value, tb) -> None:
            if kind is None or not issubclass(kind, ssl.SSLError):
                print_exception(context, kind, value, tb)
                return
            peer = _peer(context)
            self.log.warning(
                "TLS handshake failed%s: %s (a client speaking plain HTTP to the HTTPS port?)",
                f" with ip={peer}" if peer else "",
                value,
                exc_info=(kind, value, tb) if self.log.loglevel <= 10 else None,
            )

        hub.print_exception = quiet_tls_errors
        super().run()

    def _set_cork(self, sock, on: bool) -> None:
        if self.cork:
            with contextlib.suppress(OSError):  # not a TCP socket after all: send as usual
                sock.setsockopt(socket.IPPROTO_TCP, TCP_CORK, int(on))

    def handle(self, listener, client, addr) -> None:
        if client.family != socket.AF_UNIX:
            self._set_cork(client, True)
        super().handle(listener, client, addr)

    def handle_http2(self, listener, client, addr, *args, **kwargs):
        # One long-lived connection for many streams (only if http_protocols enables h2): frames
        # must leave as they are written.
        self._set_cork(client, False)
        return super().handle_http2(listener, client, addr, *args, **kwargs)

    def handle_request(self, listener_name, req, sock, addr):
        if getattr(req, "_expected_100_continue", False):
            # The client waits for "100 Continue" before it sends the body: corked, that line
            # would sit in the kernel for its 200 ms timer.
            self._set_cork(sock, False)
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            self._flush_if_unread(sock)

    def handle_error(self, req, client, addr, exc) -> None:
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            self._flush_if_unread(client)

    def _flush_if_unread(self, sock) -> None:
        """Send the corked answer now if the close would reset the connection and drop it."""
        if not self.cork:
            return
        unread = array.array("i", [0])
        with contextlib.suppress(OSError, ValueError):  # ValueError: already closed
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, unread, True)
        if unread[0]:
            self._set_cork(sock, False)


def _peer(greenlet: object) -> str | None:
    """The client address of a failed connection greenlet, when gevent's server made it."""
    for arg in getattr(greenlet, "args", ()):
        if isinstance(arg, tuple) and len(arg) == 2 and isinstance(arg[1], tuple) and arg[1]:
            return str(arg[1][0])
    return None
