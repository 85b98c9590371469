"""The consumer's Prometheus endpoint: prometheus_client's WSGI app on a few threads of its own, behind the same
bearer token as the web's /metrics (METRICS_TOKEN) when one is set."""

import hmac
import queue
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import make_wsgi_app

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

WORKERS = 4  # a scrape every few seconds needs one; the others for a scraper's retries
WAITING = 32  # connections waiting for a worker; past them, a new one is closed at once
READ_TIMEOUT = 5.0  # seconds a connection may stay silent before it is dropped


class _PooledServer(WSGIServer):
    """Each connection served on one of a fixed set of threads, and dropped once silent for `read_timeout`.

    A thread per connection (ThreadingMixIn) let idle sockets pile up threads for good: 300 connections that sent
    a request line and nothing more left the process with 319 threads.
    """

    request_queue_size = WAITING  # the kernel's backlog: a burst of connections is accepted, then sorted out

    def __init__(self, *args: Any, workers: int, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout
        self._connections: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue()
        self._workers = [
            # Daemons: a slow scraper never holds the consumer's exit.
            threading.Thread(target=self._work, name=f"metrics-{n}", daemon=True)
            for n in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        # Only serve_forever's thread puts: the size it sees is no larger when it puts.
        if self._connections.qsize() >= WAITING:
            self.shutdown_request(request)
            return
        self._connections.put((request, client_address))

    def server_close(self) -> None:
        super().server_close()
        for _ in self._workers:
            self._connections.put(None)

    def _work(self) -> None:
        while item := self._connections.get():
            request, client_address = item
            request.settimeout(self.read_timeout)
            try:
                self.finish_request(request, client_address)
            except OSError:
                pass  # silent past the read timeout, or gone: nothing to report
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """A scrape every few seconds is not worth a log line."""


def requiring_token(app: WsgiApp, token: str) -> WsgiApp:
    """`app` for requests sending `Authorization: Bearer TOKEN`; 401 for the others."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        sent = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(sent.encode(), token.encode()):
            return app(environ, start_response)
        start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
        return [b"metrics: send Authorization: Bearer METRICS_TOKEN\n"]

    return guarded


def start_metrics_server(
    port: int, *, address: str, token: str, workers: int = WORKERS, read_timeout: float = READ_TIMEOUT
) -> _PooledServer:
    app = make_wsgi_app()
    server = _PooledServer((address, port), _QuietHandler, workers=workers, read_timeout=read_timeout)
    server.set_app(requiring_token(app, token) if token else app)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
