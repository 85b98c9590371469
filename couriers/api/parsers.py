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


# JSON, and the form encodings the browsable API sends.
PARSER_CLASSES = [JSONParser, parsers.FormParser, parsers.MultiPartParser]
