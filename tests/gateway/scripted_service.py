"""A stand-in for service-order over real HTTP on 127.0.0.1, answering from a script.

For what only a real connection shows: urllib3's retries, their waits, timeouts and broken connections.
"""

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None  # sent as JSON
    raw: bytes | None = None  # sent as it is instead of `body`
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering: longer than the client's read timeout is a timeout
    hang_up: bool = False  # close the connection without an answer
    broken_body: bool = False  # announce a longer body than is sent, then close
    trickle: float = 0.0  # seconds between pieces of the answer, each wait shorter than a read timeout
    trickle_from: str = "body"  # where the trickle starts: "status" (line), "headers" or "body"
    trickle_size: int = 1  # bytes per piece
    close_delimited: bool = False  # no Content-Length: the body ends where the connection does


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scheme = "https" if tls else "http"
        if tls:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.script: list[Answer] = [Answer()]
        self.requests: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.connections = 0
        self.lock = threading.Lock()

    def next_answer(self, path: str, headers: dict[str, str]) -> Answer:
        with self.lock:
            self.paths.append(path)
            self.requests.append(headers)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and left is what some tests are about: nothing to report."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self) -> None:
        answer = self.server.next_answer(self.path, dict(self.headers))
        time.sleep(answer.delay)
        if answer.hang_up:
            self.close_connection = True
            return
        status_line, headers, payload = answer_bytes(answer)
        start = {"status": 0, "headers": len(status_line), "body": len(status_line) + len(headers)}
        data = status_line + headers + payload
        if answer.trickle:
            self._trickle(data, start[answer.trickle_from], answer.trickle, answer.trickle_size)
        else:
            self.wfile.write(data)
        self.close_connection = answer.broken_body or answer.close_delimited

    def _trickle(self, data: bytes, start: int, pause: float, size: int) -> None:
        self.wfile.write(data[:start])
        for offset in range(start, len(data), size):
            time.sleep(pause)
            self.wfile.write(data[offset : offset + size])

    def log_message(self, format: str, *args: Any) -> None:
        pass


def answer_bytes(answer: Answer) -> tuple[bytes, bytes, bytes]:
    """The status line, the header block and the body, as sent."""
    payload = answer.raw if answer.raw is not None else b"" if answer.body is None else json.dumps(answer.body).encode()
    reason = _Handler.responses.get(answer.status, ("",))[0]
    headers = (
        {} if answer.close_delimited else {"Content-Length": str(len(payload) + (100 if answer.broken_body else 0))}
    )
    if not any(name.lower() == "content-type" for name in answer.headers):
        headers["Content-Type"] = "application/json"
    header_lines = "".join(f"{name}: {value}\r\n" for name, value in {**headers, **answer.headers}.items())
    return f"HTTP/1.1 {answer.status} {reason}\r\n".encode(), (header_lines + "\r\n").encode(), payload


class ScriptedService:
    def __init__(self, server: _Server) -> None:
        self._server = server

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._server.scheme}://{host}:{port}"

    def answer(self, *answers: Answer) -> None:
        """Answer each request with the next of `answers`; the last one for every request after it."""
        self._server.script = list(answers)

    @property
    def requests(self) -> list[dict[str, str]]:
        """The headers of every request received, in order."""
        return self._server.requests

    @property
    def connections(self) -> int:
        """How many connections were opened to it."""
        return self._server.connections

    @property
    def paths(self) -> list[str]:
        """The request target of every request received, in order, as it came on the wire."""
        return self._server.paths


@contextmanager
def scripted_service(tls: ssl.SSLContext | None = None) -> Iterator[ScriptedService]:
    """The service on a port of its own; over TLS with `tls`, the server's context."""
    server = _Server(tls)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ScriptedService(server)
    finally:
        server.shutdown()
        server.server_close()


def refused_url() -> str:
    """A loopback URL nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
