"""The one domain error type of the service layer; interfaces map its kinds to answers."""


class DispatchError(Exception):
    """A request the service layer refuses, with a machine-readable code and a human message."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Conflict(DispatchError):
    """The request contradicts the current state (busy courier, order not active, ...)."""


class NotFound(DispatchError):
    """The thing the request names does not exist."""
