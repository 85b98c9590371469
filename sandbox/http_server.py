"""service-order's public read API over real HTTP/1.1, served from an OrderStore."""

import json
import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from sandbox.chaos import Outages
from sandbox.latency import ResponseDelay
from sandbox.orders import OrderStore

logger = logging.getLogger(__name__)

ORDER_PREFIX = "/public/api/v1/order/"
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
IDLE_TIMEOUT = 30.0  # seconds a kept-alive connection may sit unused before its thread ends


@dataclass(frozen=True)
class RequestStats:
    total: int
    by_status: dict[int, int]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 refuses bursts from many pooled clients

    def __init__(self, address: tuple[str, int], store: OrderStore, outages: Outages, token: str) -> None:
        super().__init__(address, _Handler)
        self.store = store
        self.outages = outages
        self.token = token
        self.delay = ResponseDelay()
        self.counts: Counter[int] = Counter()
        self.counts_lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, for pooled clients
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall between them
    timeout = IDLE_TIMEOUT
    server: _Server

    def do_GET(self) -> None:
        delay = self.server.delay.draw()
        if delay:
            time.sleep(delay)  # the network and service-order's own work, as a real client would wait for them
        status, body = self._answer()
        payload = json.dumps(body).encode()
        # Counted before answering: a client that got its answer finds itself counted.
        with self.server.counts_lock:
            self.server.counts[status] += 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _answer(self) -> tuple[int, dict[str, Any]]:
        if self.server.outages.active():
            return 503, {"code": "internal", "message": "service unavailable (simulated outage)"}
        token = self.server.token
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            return 401, {"code": "unauthorized", "message": "missing or wrong bearer token"}
        route = _route(self.path)
        if route is None:
            return 404, {"code": "not_found", "message": "not found"}
        order_id, only_status = route
        if not order_id:
            return 400, {"code": "bad_request", "message": "empty order id"}
        if not UUID_PATTERN.fullmatch(order_id):
            return 400, {"code": "bad_request", "message": "invalid order id: not a UUID"}
        order = self.server.store.view(order_id.lower())
        if order is None:
            return 404, {"code": "not_found", "message": "not found"}
        if only_status:
            return 200, {"order_id": order["id"], "status": order["status"]}
        return 200, order

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


def _route(path: str) -> tuple[str, bool] | None:
    """(decoded order id, whether /status was asked) or None for a path that is not ours."""
    path = path.split("?", 1)[0]
    if path.rstrip("/") == ORDER_PREFIX.rstrip("/"):
        return "", False
    if not path.startswith(ORDER_PREFIX):
        return None
    # Split before decoding: an encoded "/" belongs to the id, not to the path.
    segments = path[len(ORDER_PREFIX) :].split("/")
    if len(segments) == 1:
        return unquote(segments[0]), False
    if len(segments) == 2 and segments[1] == "status":
        return unquote(segments[0]), True
    return None


class OrderServer:
    """The HTTP API in daemon threads: `OrderServer(store, outages).start().url`."""

    def __init__(
        self, store: OrderStore, outages: Outages, *, host: str = "127.0.0.1", port: int = 0, token: str = ""
    ) -> None:
        self._server = _Server((host, port), store, outages, token)
        # A short poll interval: shutdown() waits for it.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-http", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "OrderServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def set_latency(self, median_seconds: float, seed: int | None = None) -> None:
        """From now on every answer comes after a delay of this median (p99 five times it); 0 for none."""
        self._server.delay = ResponseDelay(median_seconds, seed)

    def stats(self) -> RequestStats:
        with self._server.counts_lock:
            return RequestStats(sum(self._server.counts.values()), dict(self._server.counts))
