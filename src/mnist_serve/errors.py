"""One error type carrying its HTTP status; a single handler turns it into JSON."""

from __future__ import annotations

from typing import Any


class ServeError(Exception):
    """An error the client can act on: `message` says what is wrong, `details` where."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, **self.details}


class InvalidInput(ServeError):
    status_code = 400


class ModelNotFound(ServeError):
    status_code = 404


class PayloadTooLarge(ServeError):
    status_code = 413


class UnsupportedMediaType(ServeError):
    status_code = 415


class ArtifactError(Exception):
    """A model artifact is missing, altered (sha256 mismatch) or unreadable: refuse to serve."""


class DataError(Exception):
    """MNIST data could not be found, downloaded or verified."""
