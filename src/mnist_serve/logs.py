"""Log lines: human-readable by default, one JSON object per line with MNIST_SERVE_LOG_FORMAT=json.

Gunicorn applies `gunicorn_logconfig` (its `logconfig_dict`) to its error log, its access log
and the app's `mnist_serve` loggers alike, so in JSON mode every line the server writes parses.
A request's lines carry its `request_id` (the X-Request-ID the client sent, checked, or one the
server made); access lines also carry method, path, status, duration_ms and remote_addr.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

APP_LOGGER = "mnist_serve"
TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
TEXT_DATEFMT = "%Y-%m-%d %H:%M:%S %z"
# Short and printable: a request id ends up in log lines and response headers verbatim.
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID when it is 1-128 printable ASCII characters, else a new one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return os.urandom(16).hex()  # 128 random bits, as uuid4 has, at a quarter of its cost


def _current_request_id() -> str | None:
    from flask import g, has_request_context

    return g.get("request_id") if has_request_context() else None


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
        }
        atoms = record.args if isinstance(record.args, dict) and "U" in record.args else None
        if atoms is not None:  # Gunicorn's access log passes its atoms as the record's args
            doc.update(_access_fields(atoms))
        else:
            doc["message"] = record.getMessage()
            request_id = _current_request_id()
            if request_id is not None:
                doc["request_id"] = request_id
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def _access_fields(atoms: Any) -> dict[str, Any]:
    method, path, status = atoms["m"], atoms["U"], atoms["s"]
    request_id = atoms["{x-request-id}o"]
    return {
        "message": f"{method} {path} {status}",
        "request_id": None if request_id == "-" else request_id,
        "method": method,
        "path": path,
        "status": int(status) if str(status).isdigit() else status,
        "duration_ms": round(int(atoms["D"]) / 1000, 3),
        "remote_addr": atoms["h"],
    }


def gunicorn_logconfig(log_level: str, access_log: bool) -> dict[str, Any]:
    """Gunicorn's `logconfig_dict` for JSON lines (Gunicorn merges it over its defaults)."""
    level = log_level.upper()
    formatter = {"()": f"{__name__}.JsonFormatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {
            "error": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"level": "WARNING", "handlers": ["error"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["error"], "propagate": False},
            "gunicorn.access": {
                "level": "INFO" if access_log else "WARNING",
                "handlers": ["access"],
                "propagate": False,
            },
            APP_LOGGER: {"level": level, "handlers": ["error"], "propagate": False},
        },
    }


def configure_app_logging(log_level: str) -> None:
    """Text mode (or no Gunicorn): give the app's loggers a handler like Gunicorn's own lines."""
    logger = logging.getLogger(APP_LOGGER)
    if logger.handlers:  # configured already, e.g. by Gunicorn's logconfig_dict
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(TEXT_FORMAT, TEXT_DATEFMT))
    logger.addHandler(handler)
    logger.setLevel(log_level.upper())
    logger.propagate = False
