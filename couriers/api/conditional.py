"""Conditional requests on one courier or delivery: an `ETag` on every answer, `If-None-Match` on reads
(304: the client's copy is current) and `If-Match` on writes (412: someone changed it since the client
read it, so two dispatcher tools cannot overwrite each other unseen).

The tag is a digest of the representation itself, so it changes whenever anything the client sees does
(a courier's `active_delivery`, a delivery's `queue_position`), which no `updated_at` would track."""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from django.utils.http import parse_etags
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = "If-Match does not match the current ETag: read it again, then retry the change."


def etag_of(data: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return f'"{digest[:32]}"'


def _matches(header: str, etag: str) -> bool:
    # Weak comparison (W/ ignored) is what RFC 9110 asks of If-None-Match, and harmless for If-Match here:
    # this server only ever sends strong tags.
    tags = [tag.removeprefix("W/") for tag in parse_etags(header)]
    return "*" in tags or etag in tags


def tagged(data: Mapping[str, Any], status_code: int = status.HTTP_200_OK) -> Response:
    """The answer with its ETag."""
    return Response(data, status=status_code, headers={"ETag": etag_of(data)})


def read_answer(request: Request, data: Mapping[str, Any]) -> Response:
    """A read's answer: 304 without a body when If-None-Match names the current tag."""
    etag = etag_of(data)
    header = request.headers.get("If-None-Match")
    if header and _matches(header, etag):
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    return tagged(data)


def check_if_match(request: Request, current: Mapping[str, Any] | None) -> None:
    """Before a write: raise 412 unless If-Match is absent or names the current representation's tag
    (`current` None: nothing exists yet, which no tag, not even *, matches)."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    if current is None or not _matches(header, etag_of(current)):
        raise PreconditionFailed()
