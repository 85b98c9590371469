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

from sandbox.chaos import HANG_SECONDS, TRICKLE_SECONDS, Outages, Poisons
from sandbox.latency import ResponseDelay
from sandbox.orders import OrderStore

logger = logging.getLogger(__name__)

ORDER_PREFIX = "/public/api/v1/order/"
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# What a router answers for a path it has no route for (Go's net/http, most ingresses).
NO_ROUTE = ("text/plain; charset=utf-8", b"404 page not found\n")
IDLE_TIMEOUT = 30.0  # seconds a kept-alive connection may sit unused before its thread ends


@dataclass(frozen=True)
class RequestStats:
    total: int
    by_status: dict[int, int]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 refuses bursts from many pooled clients

    def __init__(
        self, address: tuple[str, int], store: OrderStore, outages: Outages, poisons: Poisons, token: str
    ) -> None:
        super().__init__(address, _Handler)
        self.store = store
        self.outages = outages
        self.poisons = poisons
        self.token = token
        self.prefix = ORDER_PREFIX  # where the orders are served; moved to imitate a misrouted deploy
        self.delay = ResponseDelay()
        self.counts: Counter[int] = Counter()
        self.asked: Counter[str] = Counter()  # GETs by order id (lower case)
        self.counts_lock = threading.Lock()
        self.closing = threading.Event()


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
        content_type, payload = ("application/json", json.dumps(body).encode()) if body else NO_ROUTE
        # Counted before answering: a client that got its answer finds itself counted.
        with self.server.counts_lock:
            self.server.counts[status] += 1
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self._write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a "hang" order): nobody to answer

    def _write(self, payload: bytes) -> None:
        if self._poison() != "trickle":
            self.wfile.write(payload)
            return
        for byte in payload:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            if self.server.closing.wait(TRICKLE_SECONDS):
                return

    def _poison(self) -> str | None:
        route = _route(self.path, self.server.prefix)
        return self.server.poisons.of(route[0]) if route else None

    def _answer(self) -> tuple[int, dict[str, Any]]:
        if self.server.outages.active():
            return 503, {"code": "internal", "message": "service unavailable (simulated outage)"}
        token = self.server.token
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            return 401, {"code": "unauthorized", "message": "missing or wrong bearer token"}
        route = _route(self.path, self.server.prefix)
        if route is None:
            return 404, {}  # a path that is not service-order's: the router's plain 404, not its JSON
        order_id, only_status = route
        if not order_id:
            return 400, {"code": "bad_request", "message": "empty order id"}
        if not UUID_PATTERN.fullmatch(order_id):
            return 400, {"code": "bad_request", "message": "invalid order id: not a UUID"}
        with self.server.counts_lock:
            self.server.asked[order_id.lower()] += 1
        poison = self.server.poisons.of(order_id)
        if poison == "malformed":
            return 200, {"id": order_id, "message": "an answer without a status"}
        if poison == "error":
            return 500, {"code": "internal", "message": "simulated failure of this order"}
        if poison == "hang":
            self.server.closing.wait(HANG_SECONDS)
        order = self.server.store.view(order_id.lower())
        if order is None:
            return 404, {"code": "not_found", "message": "not found"}
        if only_status:
            return 200, {"order_id": order["id"], "status": order["status"]}
        return 200, order

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


def _route(path: str, prefix: str) -> tuple[str, bool] | None:
    """(decoded order id, whether /status was asked) or None for a path that is not ours."""
    path = path.split("?", 1)[0]
    if path.rstrip("/") == prefix.rstrip("/"):
        return "", False
    if not path.startswith(prefix):
        return None
    # Split before decoding: an encoded "/" belongs to the id, not to the path.
    segments = path[len(prefix) :].split("/")
    if len(segments) == 1:
        return unquote(segments[0]), False
    if len(segments) == 2 and segments[1] == "status":
        return unquote(segments[0]), True
    return None


class OrderServer:
    """The HTTP API in daemon threads: `OrderServer(store, outages, poisons).start().url`."""

    def __init__(
        self,
        store: OrderStore,
        outages: Outages,
        poisons: Poisons,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "",
    ) -> None:
        self._server = _Server((host, port), store, outages, poisons, token)
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
        self._server.closing.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def move(self, prefix: str) -> None:
        """Serve the orders under `prefix` from now on; the old paths get a router's plain 404."""
        self._server.prefix = prefix

    def set_latency(self, median_seconds: float, seed: int | None = None) -> None:
        """From now on every answer comes after a delay of this median (p99 five times it); 0 for none."""
        self._server.delay = ResponseDelay(median_seconds, seed)

    def asked(self, order_id: str) -> int:
        """How many GETs this order had."""
        with self._server.counts_lock:
            return self._server.asked[order_id.lower()]

    def stats(self) -> RequestStats:
        with self._server.counts_lock:
            return RequestStats(sum(self._server.counts.values()), dict(self._server.counts))
