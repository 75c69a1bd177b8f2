"""The one error type of the service core. `service/api/errors.py` maps each kind to an HTTP status."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    VALIDATION = "validation"  # a field is wrong (422)
    BAD_REQUEST = "bad_request"  # the body cannot be read at all (400)
    TOO_LARGE = "too_large"  # the body is over the size limit (413)
    UNAUTHORIZED = "unauthorized"  # missing or wrong admin token (401)
    OVERLOADED = "overloaded"  # no admission permit left (429)
    UNAVAILABLE = "unavailable"  # no bundle loaded, or shutting down (503)
    BUNDLE = "bundle"  # a bundle was refused (409 on reload; the old one keeps serving)
    BACKEND = "backend"  # ONNX Runtime or FAISS failed on a request (500)


class ServiceError(Exception):
    """A failure with a kind and a message that names the field or file at fault."""

    def __init__(self, kind: ErrorKind, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"ServiceError({self.kind.value!r}, {self.message!r}, field={self.field!r})"


def invalid(field: str, problem: str) -> ServiceError:
    """A validation error whose message starts with the field's name."""
    return ServiceError(ErrorKind.VALIDATION, f"{field}: {problem}", field)
