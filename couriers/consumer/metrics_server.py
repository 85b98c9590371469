"""The consumer's Prometheus endpoint: prometheus_client's WSGI app on a thread of its own, behind the same bearer
token as the web's /metrics (METRICS_TOKEN) when one is set."""

import hmac
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds the consumer's exit


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


def start_metrics_server(port: int, *, address: str, token: str) -> _ThreadingServer:
    app = make_wsgi_app()
    server = make_server(
        address, port, requiring_token(app, token) if token else app, _ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
