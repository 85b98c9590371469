"""JSON log lines (LOG_FORMAT=json): one object per line, with stable keys from `extra`."""

import json
import logging
from datetime import UTC, datetime

# Everything a log call passes in `extra` (order_id, outcome, ...) becomes a top-level key.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if "request" in line and (request := _request(line.pop("request"))) is not None:
            line["request"] = request
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _request(request: object) -> str | None:
    """Django's loggers pass the request: an HttpRequest ("GET /path"), or runserver's socket, which says
    nothing a log reader wants ("<socket.socket fd=6 ...>"): the line's message already names the request."""
    method, path = getattr(request, "method", None), getattr(request, "path", None)
    return f"{method} {path}" if method and path else None


class OneWarningLine(logging.Filter):
    """A client's mistake, not ours (a request with a Host we do not serve): a warning line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
