"""The benchmark's phases, in order, on one broker, one simulator and one bench database."""

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from uuid import uuid4

from django.conf import settings

from couriers.phases import Phase, phase_of
from sandbox.bench.consumer_process import ConsumerProcess
from sandbox.bench.database import BenchDatabase
from sandbox.bench.db_connections import PeakConnections, consumer_database_url
from sandbox.bench.errors import BenchError
from sandbox.bench.fleet import couriers_ensure, final_state, outbox_drained, outbox_events_count, state_reset
from sandbox.bench.measure import Throughput, consumer_throughput, latency
from sandbox.bench.raw_read import raw_read
from sandbox.bench.report import (
    ConsumerFigures,
    LatencyFigures,
    MemoryFigures,
    OutboxFigures,
    RateFigures,
    Report,
    machine_info,
)
from sandbox.bench.stream import StreamProducer, backlog_stream_make, first_offsets, partition_count, stream_make
from sandbox.bench.work_ceiling import work_ceiling
from sandbox.broker import EmbeddedBroker
from sandbox.kafka_server import KafkaServer
from sandbox.simulator import Simulator

ONE_AT_A_TIME = ("--concurrency", "1", "--batch-size", "1")
WITHOUT_OUTBOX = ("-m", "sandbox.bench.without_outbox")  # the baseline: decisions write no event
OUTBOX_DRAIN_TIMEOUT = 60.0
CEILING_THREADS = 8
TIME_SCALE = 0.01  # an order reaches `cooking` in 0.11 s and stays there for 3 s, long enough to freeze it

BrokerKind = Literal["embedded", "real"]  # librdkafka's mock cluster, or Apache Kafka (sandbox.kafka_server)
Transport = Literal["http", "grpc"]  # ORDER_SERVICE_TRANSPORT of the consumers


@dataclass(frozen=True)
class BenchConfig:
    events: int
    orders: int
    one_at_a_time_events: int  # the one-at-a-time consumer gets a stream this long, of the same shape
    latency_seconds: float | None  # how long the paced run produces; None skips it
    memory_events: int | None  # the stream of the memory check; None skips it
    user_database: dict[str, Any]
    bench_database: str = ""
    seed: int = 1
    order_latency_ms: float = 0.0  # > 0: the consumers run again with service-order answering after this median
    backlog: bool = False  # also drain an outage's backlog
    broker: BrokerKind = "embedded"
    transport: Transport = "http"


class Bench:
    # Set up by run(), for the phases.
    database: BenchDatabase
    broker: EmbeddedBroker | KafkaServer
    bootstrap: str
    simulator: Simulator

    def __init__(self, config: BenchConfig, progress: Callable[[str], None]) -> None:
        self.config = config
        self._started = time.monotonic()
        self._progress = progress
        self.workdir = Path(tempfile.mkdtemp(prefix="courier-bench-logs-"))
        self.order_ids: list[str] = []
        self.all_processed = True
        self.all_assigned = True

    def say(self, message: str) -> None:
        self._progress(f"[bench {time.monotonic() - self._started:6.1f}s] {message}")

    def run(self) -> Report:
        try:
            report = self._run()
        except BaseException:
            self.say(f"consumer logs kept in {self.workdir}")
            raise
        shutil.rmtree(self.workdir, ignore_errors=True)
        return report

    def _run(self) -> Report:
        config = self.config
        with ExitStack() as stack:
            self.say("creating and migrating the bench database")
            self.database = stack.enter_context(BenchDatabase(config.user_database, name=config.bench_database))
            self.say(f"bench database ready ({self.database.vendor}); starting the {config.broker} Kafka broker")
            self.broker = stack.enter_context(self._broker())
            self.bootstrap = self.broker.bootstrap_servers
            self.simulator = stack.enter_context(
                Simulator(time_scale=TIME_SCALE, seed=config.seed, reads="consistent", grpc_port=0)
            )
            self._orders_prepare()
            topic = self._topic_fill(stream_make(self.order_ids, config.events, config.seed))
            short_topic, short_orders = self._short_stream()
            default = self._consumer_phase("consumer, default, 0 ms", topic, config.events, self.order_ids)
            outbox_events = outbox_events_count()
            without_outbox = self._consumer_phase(
                "consumer, default, 0 ms, no outbox", topic, config.events, self.order_ids, outbox=False
            )
            one_at_a_time = self._one_at_a_time(short_topic, short_orders, "0 ms")
            latency_ms = config.order_latency_ms
            default_at_latency = one_at_a_time_at_latency = backlog = backlog_uneven = None
            self.simulator.set_latency(latency_ms / 1000)
            if latency_ms:
                default_at_latency = self._consumer_phase(
                    f"consumer, default, {latency_ms:g} ms", topic, config.events, self.order_ids
                )
                one_at_a_time_at_latency = self._one_at_a_time(short_topic, short_orders, f"{latency_ms:g} ms")
            if config.backlog:
                backlog, backlog_uneven = self._backlog(), self._backlog(uneven=True)
            self.simulator.set_latency(0)
            self.say("bare Kafka read of the same topic")
            raw = raw_read(self.bootstrap, topic, config.events)
            ceiling = self._work_ceiling()
            paced = self._latency(default.events_per_second / 2) if config.latency_seconds else None
            memory = self._memory_check() if config.memory_events else None
            self.say("done; cleaning up")
        return Report(
            machine=machine_info(self.database.vendor, config.broker, config.transport),
            stream={"events": config.events, "orders": config.orders},
            order_latency_ms=config.order_latency_ms,
            consumer_default=default,
            consumer_default_without_outbox=without_outbox,
            outbox=OutboxFigures.of(outbox_events, default, without_outbox),
            consumer_one_at_a_time=one_at_a_time,
            consumer_default_at_latency=default_at_latency,
            consumer_one_at_a_time_at_latency=one_at_a_time_at_latency,
            backlog=backlog,
            backlog_uneven=backlog_uneven,
            raw_kafka_read=_rate(raw),
            work_ceiling=_rate(ceiling),
            latency=paced,
            memory=memory,
            checks={"all_events_processed": self.all_processed, "all_orders_assigned": self.all_assigned},
        )

    # --- set-up -------------------------------------------------------------------

    def _broker(self) -> AbstractContextManager[EmbeddedBroker | KafkaServer]:
        """The Kafka the phases run against. A real one is a JVM: 4 s to start on two idle cores, 50 on busy ones."""
        return KafkaServer() if self.config.broker == "real" else EmbeddedBroker()

    def _new_topic(self, prefix: str) -> str:
        """A fresh topic and its dead-letter topic, created: the real broker makes none on request."""
        topic = f"{prefix}.{uuid4().hex}"
        self.broker.create_topics(topic, f"{topic}.dlq", f"{topic}.deliveries")
        return topic

    def _orders_prepare(self) -> None:
        """Orders in the simulator, frozen in an active status: every check of them says "active"."""
        config = self.config
        self.say(f"creating {config.orders} orders and {config.orders} couriers")
        couriers_ensure(config.orders)
        self.order_ids = self.simulator.create_orders(config.orders)
        deadline = time.monotonic() + 30
        while any(status in ("created", "pending", "confirmed") for status in self.simulator.truth().values()):
            if time.monotonic() > deadline:
                raise BenchError("the simulator's orders did not reach `cooking` within 30 s")
            time.sleep(0.05)
        self.simulator.freeze()
        if any(phase_of(status) is not Phase.ACTIVE for status in self.simulator.truth().values()):
            raise BenchError("orders moved past their active statuses before the freeze: the machine is too slow")

    def _topic_fill(self, payloads: Sequence[bytes]) -> str:
        topic = self._new_topic("bench")
        self.say(f"producing {len(payloads)} events to {topic}")
        StreamProducer(self.bootstrap).send_all(topic, payloads)
        if any(first_offsets(self.bootstrap, topic)):
            raise BenchError(
                f"the broker dropped the oldest of {len(payloads)} events (the embedded one keeps about 5 MB "
                "per partition, the real one all): use fewer --events"
            )
        return topic

    def _env(self, topic: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": consumer_database_url(self.database),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_TOPIC": topic,
            "KAFKA_DLQ_TOPIC": f"{topic}.dlq",
            "OUTBOX_TOPIC": f"{topic}.deliveries",
            "KAFKA_GROUP_ID": f"bench-{uuid4().hex}",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "ORDER_SERVICE_URL": self.simulator.url,
            "ORDER_SERVICE_TRANSPORT": self.config.transport,
            "ORDER_SERVICE_GRPC_TARGET": self.simulator.grpc_target,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            # Measured as in production: with DEBUG on, Django keeps every query it runs.
            "DEBUG": "false",
            "SECRET_KEY": settings.SECRET_KEY,
        }

    @contextmanager
    def _consumer(
        self, topic: str, args: Sequence[str] = (), program: Sequence[str] = ("manage.py",)
    ) -> Iterator[ConsumerProcess]:
        log = self.workdir / f"consumer-{uuid4().hex[:8]}.log"
        consumer = ConsumerProcess(self._env(topic), log, args, program)
        try:
            consumer.wait_for_assignment()
            yield consumer
        finally:
            consumer.kill()

    # --- phases ---------------------------------------------------------------------

    def _short_stream(self) -> tuple[str, list[str]]:
        """The one-at-a-time consumer's topic: the main stream's shape (as many events per order, so as many
        first checks), shorter. Its orders."""
        events = self.config.one_at_a_time_events
        orders = self.order_ids[: self._orders_for(events)]
        return self._topic_fill(stream_make(orders, events, self.config.seed + 3)), orders

    def _one_at_a_time(self, topic: str, orders: list[str], latency: str) -> ConsumerFigures:
        name = f"consumer, one at a time, {latency}"
        return self._consumer_phase(name, topic, self.config.one_at_a_time_events, orders, ONE_AT_A_TIME)

    def _backlog(self, *, uneven: bool = False) -> ConsumerFigures:
        """An outage's backlog: the main stream's events in the order of time, on every partition, all
        produced before the consumer starts. `uneven`: partition p gets p + 1 shares of the events, so that
        the consumer reads some partitions' hours while others' minutes (each order's events on several)."""
        config = self.config
        topic = self._new_topic("bench.backlog")
        payloads = backlog_stream_make(self.order_ids, config.events, config.seed + 4)
        self.say(f"backlog{', uneven' if uneven else ''}: producing {len(payloads)} events in the order of time")
        partitions = partition_count(self.bootstrap, topic)
        weights = [p + 1 for p in range(partitions)] if uneven else None
        StreamProducer(self.bootstrap).send_scattered(topic, payloads, partitions, config.seed + 4, weights)
        name = f"backlog{', uneven' if uneven else ''}, default, {config.order_latency_ms:g} ms"
        return self._consumer_phase(name, topic, config.events, self.order_ids)

    def _orders_for(self, events: int) -> int:
        """How many orders `events` events are about, at the main stream's events per order."""
        return max(round(events * self.config.orders / self.config.events), 1)

    def _consumer_phase(
        self,
        name: str,
        topic: str,
        events: int,
        order_ids: Sequence[str],
        args: Sequence[str] = (),
        *,
        outbox: bool = True,
    ) -> ConsumerFigures:
        """One consumer through the stream. With the outbox (as in production) it also relays the events it
        wrote (--relay), and its CPU counts until they are all published; without it, the baseline."""
        state_reset()
        args, program = ((*args, "--relay"), ("manage.py",)) if outbox else (args, WITHOUT_OUTBOX)
        self.say(f"{name}: starting consume_orders {' '.join(args)}".rstrip())
        checks_before = self.simulator.requests().total
        with self._consumer(topic, args, program) as consumer, PeakConnections(self.database) as connections:
            consumer.follow(events, self.say)
            if outbox and not outbox_drained(OUTBOX_DRAIN_TIMEOUT):
                raise BenchError(f"{name}: the relay left events unpublished after {OUTBOX_DRAIN_TIMEOUT:.0f} s")
            usage = consumer.stop()
        checks = self.simulator.requests().total - checks_before
        throughput = consumer_throughput(consumer.log)
        self.all_processed &= throughput.count >= events
        self._check_orders(name, order_ids)
        self.say(f"{name}: {throughput.count} events in {throughput.seconds:.2f} s, {throughput.per_second:.0f}/s")
        return ConsumerFigures(
            events=throughput.count,
            seconds=throughput.seconds,
            events_per_second=throughput.per_second,
            orders_per_second=len(order_ids) / throughput.seconds,
            order_checks=checks,
            order_checks_per_second=checks / throughput.seconds,
            order_checks_per_order=checks / len(order_ids),
            cpu_ms_per_check=usage.working_cpu_seconds * 1000 / checks if checks else 0.0,
            cpu_us_per_event=usage.working_cpu_seconds * 1_000_000 / throughput.count if throughput.count else 0.0,
            peak_db_connections=connections.value,
            peak_rss_mb=usage.peak_rss_mb,
            cpu_seconds=usage.cpu_seconds,
        )

    def _check_orders(self, name: str, order_ids: Sequence[str]) -> None:
        state = final_state(order_ids)
        if not state.ok:
            self.say(
                f"{name}: CHECK FAILED: {state.with_open_delivery} of {state.orders} orders have an open delivery; "
                f"couriers consistent: {state.couriers_consistent}; "
                f"couriers idle while orders wait: {state.idle_while_waiting}"
            )
        self.all_assigned &= state.ok

    def _work_ceiling(self) -> Throughput:
        state_reset()
        self.say(f"work ceiling: {CEILING_THREADS} threads, one GET and one assign transaction per order")
        # A connection for each thread: the ceiling measures the work per order, not waits for a pooled connection.
        env = {**os.environ, "DATABASE_URL": self.database.url, "DB_POOL_MAX_SIZE": str(CEILING_THREADS)}
        ceiling = work_ceiling(env, self.simulator.url, self.order_ids, CEILING_THREADS, self.workdir)
        self._check_orders("work ceiling", self.order_ids)
        self.say(f"work ceiling: {ceiling.count} orders in {ceiling.seconds:.2f} s, {ceiling.per_second:.0f}/s")
        return ceiling

    def _latency(self, rate: float) -> LatencyFigures:
        assert self.config.latency_seconds is not None
        count = max(int(rate * self.config.latency_seconds), 1)
        # Events in the order of time, as service-order emits them: new orders arrive at a steady rate. (The
        # shuffled main stream starts nearly every order in its first seconds: a burst of first checks, each
        # the dearest kind, at many times the paced rate.)
        payloads = backlog_stream_make(self.order_ids[: self._orders_for(count)], count, self.config.seed + 1)
        topic = self._new_topic("bench.latency")
        state_reset()
        self.say(f"latency: producing {count} events at {rate:.0f}/s to a running consumer")
        producer = StreamProducer(self.bootstrap)
        with self._consumer(topic) as consumer:
            producer.send_paced(topic, payloads, rate)
            consumer.follow(count, self.say)
            consumer.stop()
        figures = latency(producer.produced, consumer.log.committed_at)
        self.say(f"latency: p50 {figures.p50_ms:.0f} ms, p95 {figures.p95_ms:.0f} ms, p99 {figures.p99_ms:.0f} ms")
        return LatencyFigures(rate, figures.events, figures.p50_ms, figures.p95_ms, figures.p99_ms, figures.max_ms)

    def _memory_check(self) -> MemoryFigures:
        """One consumer through the long stream, fed a chunk (--events) at a time.

        The embedded broker keeps only about 5 MB per partition: the backlog stays under two chunks.
        """
        events = self.config.memory_events
        assert events is not None
        chunk = self.config.events
        topic = self._new_topic("bench.memory")
        payloads = stream_make(self.order_ids, events, self.config.seed + 2)
        state_reset()
        self.say(f"memory check: {events} events, resident memory after {chunk} and after all")
        producer = StreamProducer(self.bootstrap)
        with self._consumer(topic) as consumer:
            early = 0.0
            for start in range(0, events, chunk):
                producer.send_all(topic, payloads[start : start + chunk])
                consumer.follow(start, self.say)  # all before this chunk is done: one chunk of backlog
                if start == chunk:
                    early = consumer.resident_mb()  # after the first chunk: warmed up
            consumer.follow(events, self.say)
            end = consumer.resident_mb()
            consumer.stop()
        self.all_processed &= len(consumer.log.committed_at) >= events
        return MemoryFigures(events, early, chunk, end, end - early)


def _rate(throughput: Throughput) -> RateFigures:
    return RateFigures(throughput.count, throughput.seconds, throughput.per_second)
