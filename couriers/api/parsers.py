"""Request parsers: DRF's, hardened against bodies that would crash them."""

from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """A body nested deeper than Python's recursion limit is malformed JSON, not a crash."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc


# JSON only: a form or multipart body is a 415 before it is read (a multipart upload would be parsed to disk first).
PARSER_CLASSES = [JSONParser]
