"""A stand-in for service-order: orders that live their lives, an HTTP API (gRPC too on request), and Kafka events.

python -m sandbox.simulator --bootstrap HOST:PORT --port 8083 --orders 200 --time-scale 0.01 --chaos
"""

import argparse
import heapq
import logging
import random
import signal
import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from types import FrameType, TracebackType

from sandbox.chaos import Chaos, Outages, Poisons
from sandbox.grpc_server import OrderGrpcServer
from sandbox.http_server import OrderServer, RequestStats
from sandbox.orders import LIFETIME, READS, OrderStore, SimClock
from sandbox.publisher import KafkaSink, MemorySink, Publisher, PublishRecord, Sink

logger = logging.getLogger(__name__)

DEFAULT_TOPIC = "order.status.changed"
TICK = 0.01  # seconds between two walks over what is due


class _Agenda:
    """Actions planned at moments of the simulator clock: orders created over a period."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heap: list[tuple[float, int, Callable[[], object]]] = []
        self._sequence = 0

    def add(self, at: float, action: Callable[[], object]) -> None:
        with self._lock:
            self._sequence += 1
            heapq.heappush(self._heap, (at, self._sequence, action))

    def take_due(self, now: float) -> list[Callable[[], object]]:
        with self._lock:
            due = []
            while self._heap and self._heap[0][0] <= now:
                due.append(heapq.heappop(self._heap)[2])
            return due

    def has_pending(self, clock: SimClock) -> bool:
        """Whether an action is still to run: it is due, or planned and the clock runs."""
        with self._lock:
            return bool(self._heap) and (not clock.frozen or self._heap[0][0] <= clock.now())


class Simulator:
    """service-order in one object. Without `bootstrap` or `sink`, events are kept in a MemorySink.

    `reads`: "faithful" (the default) answers reads by the real service-order's rule, which contradicts its
    own `completed` events for good; "consistent" answers them by the timeline (see sandbox.orders).
    """

    def __init__(
        self,
        *,
        bootstrap: str | None = None,
        topic: str = DEFAULT_TOPIC,
        sink: Sink | None = None,
        time_scale: float = 1.0,
        chaos: Chaos | None = None,
        seed: int | None = None,
        token: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        reads: str = "faithful",
        grpc_port: int | None = None,
    ) -> None:
        self.chaos = chaos or Chaos()
        self.time_scale = time_scale
        self.clock = SimClock()
        # One random source per concern, so that one concern's draws do not shift another's.
        orders_rng = random.Random(f"{seed}:orders" if seed is not None else None)
        self.store = OrderStore(self.clock, time_scale, orders_rng, reads=reads)
        self._fates = random.Random(f"{seed}:fates" if seed is not None else None)
        self._fates_lock = threading.Lock()
        self.sink = sink or (KafkaSink(bootstrap, topic) if bootstrap else MemorySink())
        self.publisher = Publisher(self.sink, self.chaos, seed)
        self.outages = Outages()
        self.poisons = Poisons()
        self.server = OrderServer(self.store, self.outages, self.poisons, host=host, port=port, token=token)
        # gRPC beside HTTP when asked for (grpc_port 0: any free port), from the same orders.
        self.grpc = (
            None
            if grpc_port is None
            else OrderGrpcServer(self.store, self.outages, self.poisons, host=host, port=grpc_port, token=token)
        )
        self._agenda = _Agenda()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="sandbox-simulator", daemon=True)
        self._progress = threading.Condition()
        self._ticks = 0
        self._settled = False

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def grpc_target(self) -> str:
        if self.grpc is None:
            raise RuntimeError("this simulator serves no gRPC: create it with grpc_port")
        return self.grpc.target

    def start(self) -> "Simulator":
        for start_in, duration in self.chaos.outages:
            self.outages.schedule(start_in, duration)
        self.server.start()
        if self.grpc:
            self.grpc.start()
        self._worker.start()
        return self

    def stop(self, flush_timeout: float = 10.0) -> None:
        self._stop.set()
        if self._worker.is_alive():
            self._worker.join()
        self.server.stop()
        if self.grpc:
            self.grpc.stop()
        self.sink.close(flush_timeout)

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def create_order(self) -> str:
        return self.store.create(fate=self._draw_fate())

    def create_orders(self, count: int, over: float = 0.0) -> list[str]:
        """`count` orders, created now or evenly over the next `over` seconds; their ids, in creation order."""
        ids = [self.store.new_id() for _ in range(count)]
        now = self.clock.now()
        for index, order_id in enumerate(ids):
            create = partial(self.store.create, order_id, self._draw_fate())
            if over > 0:
                self._agenda.add(now + over * index / count, create)
            else:
                create()
        return ids

    def _draw_fate(self) -> tuple[str, float] | None:
        """Chaos: maybe cancel, delete or edit the order at a random moment of its life."""
        fates = (
            (self.chaos.cancel_fraction, "canceled"),
            (self.chaos.delete_fraction, "deleted"),
            (self.chaos.update_fraction, "updated"),
        )
        with self._fates_lock:
            roll = self._fates.random()
            after = self._fates.uniform(0, LIFETIME * self.time_scale)
        for fraction, status in fates:
            if roll < fraction:
                return status, after
            roll -= fraction
        return None

    def cancel(self, order_id: str) -> bool:
        return self.store.cancel(order_id)

    def delete(self, order_id: str) -> bool:
        return self.store.delete(order_id)

    def update(self, order_id: str) -> bool:
        return self.store.update(order_id)

    def outage(self, seconds: float, start_in: float = 0.0) -> None:
        """The HTTP API answers 503 for `seconds`, starting in `start_in` seconds."""
        self.outages.schedule(start_in, seconds)

    def move_api(self, prefix: str) -> None:
        """Serve the orders under another path, as a deploy that moved service-order's API would."""
        self.server.move(prefix)

    def poison(self, order_id: str, kind: str) -> None:
        """One order's GETs always answer a malformed 200 ("malformed"), never in time ("hang"), a 500 ("error"),
        or a good answer a byte every half second ("trickle"); its gRPC calls the same, as gRPC can say it."""
        self.poisons.add(order_id, kind)

    def asked(self, order_id: str) -> int:
        """How many times either API was asked for this order."""
        return self.server.asked(order_id) + (self.grpc.asked(order_id) if self.grpc else 0)

    def set_latency(self, median_seconds: float) -> None:
        """The APIs answer after a delay of this median, with a long tail (p99 five times it); 0 for none."""
        self.server.set_latency(median_seconds)
        if self.grpc:
            self.grpc.set_latency(median_seconds)

    def freeze(self) -> None:
        """Stop the clock: no status changes any more, so the truth is final."""
        self.clock.freeze()

    def truth(self) -> dict[str, str]:
        return self.store.truth()

    def record(self) -> PublishRecord:
        return self.publisher.record()

    def requests(self) -> RequestStats:
        """What both APIs were asked, gRPC's counted under the HTTP status of the same meaning."""
        stats = [self.server.stats(), *([self.grpc.stats()] if self.grpc else [])]
        by_status: Counter[int] = Counter()
        for one in stats:
            by_status.update(one.by_status)
        return RequestStats(sum(one.total for one in stats), dict(by_status))

    def wait_until_settled(self, timeout: float = 30.0) -> None:
        """Until every change that is due has been published and acknowledged by the sink.

        With the clock running that is the end of every order's life; frozen, what was due at the freeze.
        """
        with self._progress:
            start = self._ticks
            # A whole tick that began after this call, so that what the caller just did counts.
            if not self._progress.wait_for(lambda: self._ticks >= start + 2 and self._settled, timeout):
                raise TimeoutError(f"simulator not settled within {timeout} s: {self.summary()}")

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                settled = self._tick()
            except Exception:
                logger.exception("simulator tick failed")
                settled = False
            with self._progress:
                self._ticks += 1
                self._settled = settled
                self._progress.notify_all()

    def _tick(self) -> bool:
        for action in self._agenda.take_due(self.clock.now()):
            action()
        for order_id, status in self.store.take_due():
            logger.debug("order %s is %s: event published", order_id, status)
            self.publisher.publish(order_id, status, self.clock.now())
        self.publisher.release()
        return not self._agenda.has_pending(self.clock) and not self.store.has_due() and self.publisher.idle()

    def summary(self) -> str:
        statuses = Counter(self.truth().values())
        record = self.record()
        requests = self.requests()
        return (
            f"orders {sum(statuses.values())} {dict(sorted(statuses.items()))}; "
            f"events {record.valid_total} valid, {len(record.unknown)} unknown-order, "
            f"{record.malformed_total} malformed, {record.failed} failed; "
            f"http {requests.total} requests {dict(sorted(requests.by_status.items()))}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Simulate service-order: HTTP API and Kafka events.")
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, host:port[,...]")
    parser.add_argument("--topic", default=DEFAULT_TOPIC)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--grpc-port", type=int, default=None, help="also serve gRPC here (default: HTTP only)")
    parser.add_argument("--token", default="", help="bearer token the HTTP API demands (default: none)")
    parser.add_argument("--orders", type=int, default=200, help="orders to create")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which to create them")
    parser.add_argument("--time-scale", type=float, default=1.0, help="0.01 makes an order's 15 minutes last 9 s")
    parser.add_argument("--chaos", action="store_true", help="duplicates, disorder, delays, outages, bad events")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--reads",
        choices=READS,
        default="faithful",
        help="faithful: reads by the real service-order's rule (past 10 minutes: delivering, completed included); "
        "consistent: reads follow the events",
    )
    parser.add_argument("--report-every", type=float, default=5.0, help="seconds between two progress lines")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    chaos = Chaos.standard() if args.chaos else Chaos()
    simulator = Simulator(
        bootstrap=args.bootstrap,
        topic=args.topic,
        time_scale=args.time_scale,
        chaos=chaos,
        seed=args.seed,
        token=args.token,
        host=args.host,
        port=args.port,
        reads=args.reads,
        grpc_port=args.grpc_port,
    ).start()
    logger.info("serving service-order's API at %s; events to %s on %s", simulator.url, args.topic, args.bootstrap)
    logger.info(
        "creating %d orders over %.0f s; time scale %g: an order's life lasts %.1f s; reads %s; %s",
        args.orders,
        args.spread,
        args.time_scale,
        LIFETIME * args.time_scale,
        args.reads,
        chaos,
    )
    simulator.create_orders(args.orders, over=args.spread)
    while not stop.wait(args.report_every):
        logger.info("%s", simulator.summary())
    logger.info("stopping; final: %s", simulator.summary())
    simulator.stop()


if __name__ == "__main__":
    main()
