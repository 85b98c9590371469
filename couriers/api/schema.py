"""OpenAPI helpers: the error answers every endpoint documents."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from couriers.api.conditional import PreconditionFailed
from couriers.api.serializers import ErrorSerializer

_MEANINGS = {
    400: "Invalid input: `error.fields` names each offending field (malformed JSON, unknown fields too).",
    401: "No credentials, or invalid ones: send `Authorization: Token <key>` (or `Bearer <key>`) or a session "
    "cookie. Such requests are throttled by address (429).",
    403: "Signed in, but this write needs a permission the user lacks; `error.message` names it "
    "(the `dispatchers` group holds what dispatchers need).",
    404: "Nothing with that id (or the path is not one of the API's).",
    409: "Refused by the current state; `error.code` and `error.message` say why.",
    412: "`If-Match` does not name the current ETag: someone changed it since; read it again (code "
    "precondition_failed).",
    413: "The body is larger than the server accepts.",
    415: "The body is not JSON (nor a form).",
    429: "Too many requests (per user, or per address without valid credentials): retry after the number of "
    "seconds in Retry-After.",
    502: "service-order answered with something that is not an order.",
    503: "The database is unavailable (database_unavailable): try again later.",
}


BODY = (400, 413, 415)  # what any endpoint that reads a body can answer


def error_responses(*statuses: int, **meanings: str) -> dict[int, OpenApiResponse]:
    """{status: the error shape} for each status, plus 401, 429 and 503, which every endpoint can answer.

    `meanings` override the generic description, keyed "e409" etc.
    """
    wanted = sorted({*statuses, 401, 429, 503})
    return {
        code: OpenApiResponse(
            ErrorSerializer, description=meanings.get(f"e{code}", _MEANINGS[code]), examples=[_example(code)]
        )
        for code in wanted
    }


# A typical body of each status, for the documentation and generated clients.
_EXAMPLES = {
    400: (
        "invalid",
        "The request has invalid fields.",
        {"phone": ["Enter a phone number in E.164 form: + and 10 to 15 digits."]},
    ),
    401: ("not_authenticated", "Authentication credentials were not provided.", {}),
    403: (
        "permission_denied",
        "This needs the permission couriers.dispatch_delivery (the dispatchers group has what dispatchers need).",
        {},
    ),
    404: ("courier_not_found", "courier 7 does not exist", {}),
    409: ("courier_busy", "the courier is on a delivery: pause it once the delivery ends", {}),
    412: ("precondition_failed", PreconditionFailed.default_detail, {}),
    413: ("request_too_large", "the request body is too large", {}),
    415: ("unsupported_media_type", 'Unsupported media type "text/plain" in request.', {}),
    429: ("throttled", "Request was throttled. Expected available in 12 seconds.", {}),
    502: ("bad_order_answer", "service-order answered with something that is not an order", {}),
    503: ("database_unavailable", "the database is unavailable: try again later", {}),
}


def _example(status: int) -> OpenApiExample:
    code, message, fields = _EXAMPLES[status]
    return OpenApiExample(code, value={"error": {"code": code, "message": message, "fields": fields}})


ETAG = OpenApiParameter(
    "ETag", str, OpenApiParameter.HEADER, response=[200, 201, 202, 304], description="The representation's tag."
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", str, OpenApiParameter.HEADER, description="ETags held: 304 without a body if one is current."
)
IF_MATCH = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER, description="The ETag the change is based on: 412 if it changed since."
)
CONDITIONAL_READ = [IF_NONE_MATCH, ETAG]
CONDITIONAL_WRITE = [IF_MATCH, ETAG]
NOT_MODIFIED = {304: OpenApiResponse(description="Not modified: `If-None-Match` names the current ETag.")}
