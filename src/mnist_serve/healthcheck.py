"""`mnist-serve healthcheck`: ask this server's `/health/ready` where and how its settings say.

The container's HEALTHCHECK runs it, so it reads the same Settings as the server (bind and
certfile): HTTPS when a certificate is configured, loopback when the server binds every address,
the socket file when it binds `unix:PATH`. Only the standard library, so a check costs a short
Python start and one request.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

from mnist_serve.config import Settings

READY_PATH = "/health/ready"

# Binding every address means loopback answers too; ask there, never over the network.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class HealthcheckError(Exception):
    """Why the server is not ready, as one line."""


@dataclass(frozen=True)
class Target:
    """Where the check asks: a TCP host and port, or a unix socket path (then host is unused)."""

    scheme: str
    host: str = ""
    port: int = 0
    unix_path: str | None = None

    @property
    def url(self) -> str:
        if self.unix_path is not None:
            return f"{self.scheme}+unix://{self.unix_path}{READY_PATH}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{READY_PATH}"


def target(settings: Settings) -> Target:
    """The address to ask, from MNIST_SERVE_BIND (already validated by Settings)."""
    scheme = "https" if settings.certfile is not None else "http"
    bind = settings.bind
    if bind.startswith("unix:"):
        return Target(scheme, unix_path=bind.removeprefix("unix:"))
    host, _, port = bind.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    return Target(scheme, _WILDCARDS.get(host, host), int(port))


def tls_context() -> ssl.SSLContext:
    """Encryption without verification, on purpose. The check talks to its own server, in the
    same container, over loopback or a socket file, and sends nothing secret (health endpoints
    need no token); what it must tell is whether the server answers, not who it is. Verifying
    would make a healthy server look broken: its certificate names the public host, not
    127.0.0.1; the CA that signed it is often not in the image; and an expiring certificate
    would make Docker restart a server that restarting cannot fix (expiry is for monitoring)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _UnixConnection(http.client.HTTPConnection):
    """HTTP (or HTTPS, with a context) over a unix socket: only the connect step differs."""

    def __init__(self, path: str, timeout: float, context: ssl.SSLContext | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path, self._context = path, context

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
            if self._context is not None:
                sock = self._context.wrap_socket(sock)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _connection(where: Target, timeout: float) -> http.client.HTTPConnection:
    context = tls_context() if where.scheme == "https" else None
    if where.unix_path is not None:
        return _UnixConnection(where.unix_path, timeout, context)
    if context is not None:
        return http.client.HTTPSConnection(where.host, where.port, timeout=timeout, context=context)
    return http.client.HTTPConnection(where.host, where.port, timeout=timeout)


def check_ready(settings: Settings, timeout: float) -> Target:
    """Return the target when it answers 200; otherwise raise HealthcheckError (one line)."""
    where = target(settings)
    connection = _connection(where, timeout)
    try:
        connection.request("GET", READY_PATH, headers={"Connection": "close"})
        response = connection.getresponse()
        status, reason = response.status, response.reason
        response.read()
    except TimeoutError:
        raise HealthcheckError(f"{where.url}: no answer within {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise HealthcheckError(
            f"{where.url}: TLS failed ({exc.reason or exc}); does the server serve HTTPS? "
            "(it does when started with MNIST_SERVE_CERTFILE and MNIST_SERVE_KEYFILE)"
        ) from None
    except (ConnectionResetError, http.client.BadStatusLine):  # RemoteDisconnected too
        hint = (
            ""
            if where.scheme == "https"
            else "; if it serves HTTPS, give the check MNIST_SERVE_CERTFILE too"
        )
        raise HealthcheckError(
            f"{where.url}: the connection was closed without an answer{hint}"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise HealthcheckError(
            f"{where.url}: {detail} (MNIST_SERVE_BIND={settings.bind})"
        ) from None
    finally:
        connection.close()
    if status != 200:
        raise HealthcheckError(f"{where.url}: answered {status} {reason}, not 200 (not ready)")
    return where
