"""One error type for the whole server: a code, a message a person can read, an HTTP status."""

from __future__ import annotations

# Error codes, shared by the HTTP API and the WebSocket API (docs/errors.md lists them).
BAD_REQUEST = "BAD_REQUEST"
INVALID_JSON = "INVALID_JSON"
VALIDATION_FAILED = "VALIDATION_FAILED"
UNKNOWN_MESSAGE_TYPE = "UNKNOWN_MESSAGE_TYPE"
UNSUPPORTED_FRAME = "UNSUPPORTED_FRAME"
UNAUTHORIZED = "UNAUTHORIZED"
INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
USER_NOT_FOUND = "USER_NOT_FOUND"
ROOM_NOT_FOUND = "ROOM_NOT_FOUND"
ROOM_ACCESS_DENIED = "ROOM_ACCESS_DENIED"
MESSAGE_NOT_FOUND = "MESSAGE_NOT_FOUND"
BOOST_NOT_FOUND = "BOOST_NOT_FOUND"
NOT_IN_ROOM = "NOT_IN_ROOM"
MESSAGE_CREATION_FAILED = "MESSAGE_CREATION_FAILED"
EMAIL_TAKEN = "EMAIL_TAKEN"
ROOM_NAME_TAKEN = "ROOM_NAME_TAKEN"
SETUP_ALREADY_DONE = "SETUP_ALREADY_DONE"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
RATE_LIMITED = "RATE_LIMITED"
TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
INTERNAL_ERROR = "INTERNAL_ERROR"
INVALID_JOIN_CODE = "INVALID_JOIN_CODE"
LOGIN_LINK_INVALID = "LOGIN_LINK_INVALID"
LOGIN_LINK_USED = "LOGIN_LINK_USED"
LOGIN_LINK_EXPIRED = "LOGIN_LINK_EXPIRED"
WRONG_PASSWORD = "WRONG_PASSWORD"
ATTACHMENT_NOT_FOUND = "ATTACHMENT_NOT_FOUND"
AVATAR_NOT_FOUND = "AVATAR_NOT_FOUND"
STORAGE_FULL = "STORAGE_FULL"
IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
NOT_AN_IMAGE = "NOT_AN_IMAGE"


class CampfireError(Exception):
    """A request that cannot be served: rendered as JSON over HTTP, as `Error` over /ws."""

    def __init__(
        self, code: str, message: str, status: int = 400, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after  # seconds; HTTP answers carry it as Retry-After

    def as_dict(self) -> dict:
        """The HTTP error body."""
        return {"error": {"code": self.code, "message": self.message}}


def bad_request(message: str, code: str = VALIDATION_FAILED) -> CampfireError:
    """A 400 for input that does not fit."""
    return CampfireError(code, message, 400)


def unauthorized(message: str = "Authentication required") -> CampfireError:
    """A 401: no valid session."""
    return CampfireError(UNAUTHORIZED, message, 401)


def forbidden(message: str = "You are not allowed to do that") -> CampfireError:
    """A 403: authenticated, but not allowed."""
    return CampfireError(FORBIDDEN, message, 403)


def room_not_found() -> CampfireError:
    """The room does not exist."""
    return CampfireError(ROOM_NOT_FOUND, "Room not found", 404)


def room_access_denied() -> CampfireError:
    """The room exists, but this user may not use it."""
    return CampfireError(ROOM_ACCESS_DENIED, "You do not have access to this room", 403)


def user_not_found() -> CampfireError:
    """No such user."""
    return CampfireError(USER_NOT_FOUND, "User not found", 404)


def rate_limited(message: str, retry_after: float) -> CampfireError:
    """A 429 that says when to try again."""
    return CampfireError(RATE_LIMITED, message, 429, retry_after=retry_after)


def room_name_taken(name: str) -> CampfireError:
    """A 409: another room of the same type already has this name."""
    return CampfireError(
        ROOM_NAME_TAKEN, f"There is already a room named {name!r}: please pick another name", 409
    )


def database_unavailable() -> CampfireError:
    """A 503: the database cannot be reached now (PostgreSQL restarting); try again soon."""
    return CampfireError(
        SERVICE_UNAVAILABLE, "The database is unavailable; try again shortly", 503, retry_after=1
    )
