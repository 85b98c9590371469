"""The consume loop: batches in, one service call per order, offsets stored only after the work.

At-least-once: an offset is stored only once every message before it in its partition was
committed by the service layer (or dead-lettered). When service-order is down, the partition
is rewound to the first unprocessed message and paused for a growing, jittered wait.
"""

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from django.db import close_old_connections, connection, connections

from couriers import metrics
from couriers.consumer.backoff import Backoff
from couriers.consumer.dead_letters import DeadLetters
from couriers.consumer.events import MalformedEvent, OrderEvent, parse_event
from couriers.consumer.gather import Gatherer
from couriers.services import EventResult
from gateway.orders import RETRY_LATER, OrderRequestRejected

logger = logging.getLogger(__name__)


class Handler(Protocol):
    """The service call for one order's events (couriers.services.order_events_handle, client bound)."""

    def __call__(self, *, order_id: str, event_statuses: Sequence[str]) -> EventResult: ...


Partition = tuple[str, int]


@dataclass(frozen=True)
class Handled:
    """What became of one order's events in a batch."""

    result: EventResult | None
    error: BaseException | None
    seconds: float


class NotTried(Exception):
    """Left for later: another order of the batch already found service-order down."""


@dataclass
class ConsumerOptions:
    topic: str
    max_event_bytes: int
    batch_size: int
    concurrency: int
    backoff: Backoff
    idle_exit: float | None = None
    liveness_file: str = ""
    close_timeout: float = 10.0
    poll_timeout: float = 1.0
    reconcile: Callable[[], object] | None = None  # the sweep, run every `reconcile_every` seconds
    reconcile_every: float | None = None


class OrderEventConsumer:
    def __init__(
        self, *, consumer: Consumer, dead_letters: DeadLetters, handle: Handler, options: ConsumerOptions
    ) -> None:
        self.consumer = consumer
        self.gather = Gatherer(consumer, batch_size=options.batch_size, poll_timeout=options.poll_timeout)
        self.dead_letters = dead_letters
        self.handle = handle
        self.options = options
        self.pool = (
            ThreadPoolExecutor(options.concurrency, thread_name_prefix="order") if options.concurrency > 1 else None
        )
        self.stopping = False
        self.failures: dict[Partition, int] = {}
        self.resume_at: dict[Partition, float] = {}
        self.service_down = False
        self.last_activity: float | None = None  # the idle clock starts at the first assignment
        self.last_liveness = 0.0
        self.next_reconcile = time.monotonic()
        # Dead-lettered messages past a partition's stored offset: after a rewind they come again.
        self.dead_lettered: set[tuple[str, int, int]] = set()
        self.thread_state = threading.local()  # per worker thread: the batch its connection was refreshed for

    # --- lifecycle ------------------------------------------------------------

    def request_stop(self, *_: object) -> None:
        """Signal handler: the loop finishes the batch in hand, then stops."""
        self.stopping = True

    def run(self) -> None:
        self.consumer.subscribe(
            [self.options.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        try:
            while not self.stopping:
                self.step()
        finally:
            self.close()

    def step(self) -> None:
        """One turn of the loop: resume what is due, take a batch, process it."""
        self._resume_due_partitions()
        messages = self._take_batch()
        if messages:
            self.last_activity = time.monotonic()
            self.process_batch(messages)
        elif self._idle_long_enough():
            logger.info("nothing to do for %ss: exiting", self.options.idle_exit)
            self.stopping = True
        self._reconcile_if_due()
        if not connection.in_atomic_block:
            close_old_connections()
        self._touch_liveness()

    def _take_batch(self) -> list[Message]:
        """Up to a batch of the oldest messages over all partitions, waiting only for the first (see gather)."""
        return self.gather.take()

    def close(self) -> None:
        """Commit what is stored and leave the group; never hang when the broker is gone."""
        if self.pool is not None:
            self._close_worker_connections()
            self.pool.shutdown()
        closer = threading.Thread(target=self._commit_and_close, name="kafka-close", daemon=True)
        closer.start()
        closer.join(self.options.close_timeout)
        if closer.is_alive():
            logger.error(
                "Kafka did not close within %ss (broker unreachable?): exiting without it", self.options.close_timeout
            )
        else:
            logger.info("consumer closed")

    def _commit_and_close(self) -> None:
        self._commit_stored()
        self.consumer.close()

    def _commit_stored(self) -> None:
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            logger.debug("nothing committed: %s", exc)  # typically: no offsets stored since the last commit

    # --- one batch ----------------------------------------------------------------

    def process_batch(self, batch: list[Message]) -> None:
        messages = _without_errors(batch)
        events, malformed = self._parse(messages)
        retry_from: dict[Partition, int] = {}
        for topic, partition, offset in self._dead_letter(malformed):
            _rewind_to(retry_from, (topic, partition), offset)
        by_order = _group_by_order(events)
        rejected: list[tuple[Message, str]] = []
        for order_id, handled in self._handle_orders(by_order).items():
            order_events = by_order[order_id]
            if isinstance(handled.error, OrderRequestRejected):
                rejected.extend(
                    (message, f"service-order rejected the order id: {handled.error}") for message, _ in order_events
                )
            elif handled.error is not None:
                for message, _ in order_events:
                    _rewind_to(retry_from, (message.topic(), message.partition()), message.offset())
            else:
                _log_events(order_events, handled)
        for topic, partition, offset in self._dead_letter(rejected):
            _rewind_to(retry_from, (topic, partition), offset)
        self._store_progress(messages, retry_from)
        self._measure_lag(messages)

    def _dead_letter(self, messages: list[tuple[Message, str]]) -> set[tuple[str, int, int]]:
        fresh = [(message, reason) for message, reason in messages if _origin(message) not in self.dead_lettered]
        if not fresh:
            return set()
        failed = self.dead_letters.send(fresh)
        delivered = {_origin(message) for message, _ in fresh} - failed
        self.dead_lettered |= delivered
        metrics.DEAD_LETTERS.inc(len(delivered))
        metrics.EVENTS.labels("dead_lettered").inc(len(delivered))
        return failed

    def _parse(self, messages: list[Message]) -> tuple[list[tuple[Message, OrderEvent]], list[tuple[Message, str]]]:
        events, malformed = [], []
        for message in messages:
            try:
                events.append((message, parse_event(message.value(), max_bytes=self.options.max_event_bytes)))
            except MalformedEvent as exc:
                logger.warning(
                    "malformed event dead-lettered: %s",
                    exc,
                    extra={"partition": message.partition(), "offset": message.offset(), "outcome": "dead_lettered"},
                )
                malformed.append((message, str(exc)))
        return events, malformed

    def _handle_orders(self, by_order: dict[str, list[tuple[Message, OrderEvent]]]) -> dict[str, Handled]:
        service_down = threading.Event()

        def handle(order_id: str) -> Handled:
            return self._handle_order(order_id, [event.status for _, event in by_order[order_id]], service_down)

        if self.pool is None:
            return {order_id: handle(order_id) for order_id in by_order}
        return dict(zip(by_order, self.pool.map(handle, by_order), strict=True))

    def _handle_order(self, order_id: str, statuses: list[str], service_down: threading.Event) -> Handled:
        if service_down.is_set():
            return Handled(None, NotTried(), 0.0)
        self._refresh_connection(batch=service_down)
        started = time.monotonic()
        try:
            result = self.handle(order_id=order_id, event_statuses=statuses)
            metrics.EVENT_SECONDS.observe(time.monotonic() - started)
            return Handled(result, None, time.monotonic() - started)
        except RETRY_LATER as exc:
            service_down.set()
            self._note_service_down(exc)
            return Handled(None, exc, time.monotonic() - started)
        except OrderRequestRejected as exc:
            return Handled(None, exc, time.monotonic() - started)
        except Exception as exc:
            logger.exception("order %s could not be processed: will retry", order_id, extra={"order_id": order_id})
            return Handled(None, exc, time.monotonic() - started)

    def _refresh_connection(self, *, batch: threading.Event) -> None:
        """close_old_connections() once per batch in each worker thread (each has its own connection).

        With health checks on, Django pings the connection on its next use after that call: a round trip
        worth paying once per batch, not once per order. `batch` is any object new with each batch.
        """
        if getattr(self.thread_state, "batch", None) is not batch:
            self.thread_state.batch = batch
            close_old_connections()  # outside any atomic block: the service opens its own

    def _note_service_down(self, exc: BaseException) -> None:
        if not self.service_down:
            self.service_down = True
            logger.warning("service-order is down, pausing partitions and retrying with backoff: %s", exc)

    def _store_progress(self, messages: list[Message], retry_from: dict[Partition, int]) -> None:
        next_offsets: dict[Partition, int] = {}
        for message in messages:
            partition = (message.topic(), message.partition())
            next_offsets[partition] = max(next_offsets.get(partition, 0), message.offset() + 1)
        to_store = [
            TopicPartition(topic, p, retry_from.get((topic, p), offset)) for (topic, p), offset in next_offsets.items()
        ]
        self.consumer.store_offsets(offsets=to_store)
        self._forget_dead_letters_before(to_store)
        for partition, offset in retry_from.items():
            self._retry_later(partition, offset)
        if not retry_from:
            self._note_progress(next_offsets)

    def _forget_dead_letters_before(self, stored: list[TopicPartition]) -> None:
        position = {(tp.topic, tp.partition): tp.offset for tp in stored}
        self.dead_lettered = {
            (topic, partition, offset)
            for topic, partition, offset in self.dead_lettered
            if offset >= position.get((topic, partition), 0)
        }

    def _retry_later(self, partition: Partition, offset: int) -> None:
        topic_partition = TopicPartition(*partition, offset)
        self.gather.forget([partition])
        self.consumer.seek(topic_partition)
        self.consumer.pause([topic_partition])
        failures = self.failures.get(partition, 0) + 1
        self.failures[partition] = failures
        delay = self.options.backoff.delay(failures)
        self.resume_at[partition] = time.monotonic() + delay
        metrics.PARTITION_PAUSES.inc()
        metrics.BACKOFF_SECONDS.labels(partition[1]).set(delay)
        logger.debug("partition %s paused for %.1fs at offset %s (failure %s)", partition[1], delay, offset, failures)

    def _note_progress(self, partitions: dict[Partition, int]) -> None:
        for partition in partitions:
            self.failures.pop(partition, None)
        if self.service_down:
            self.service_down = False
            logger.info("service-order reachable again: processing resumed")

    # --- partitions, idleness, liveness -------------------------------------------

    def _resume_due_partitions(self) -> None:
        now = time.monotonic()
        due = [partition for partition, at in self.resume_at.items() if at <= now]
        for partition in due:
            del self.resume_at[partition]
        if due:
            self.consumer.resume([TopicPartition(topic, p) for topic, p in due])
        for _, partition in due:
            metrics.BACKOFF_SECONDS.labels(partition).set(0)

    def _reconcile_if_due(self) -> None:
        every, sweep = self.options.reconcile_every, self.options.reconcile
        if sweep is None or every is None or time.monotonic() < self.next_reconcile:
            return
        self.next_reconcile = time.monotonic() + every
        try:
            sweep()
        except Exception:
            # The sweep is a repair; a failure of it (a database hiccup) must not stop event processing.
            logger.exception("reconcile sweep failed: next try in %ss", every)

    def _measure_lag(self, messages: list[Message]) -> None:
        positions: dict[Partition, int] = {}
        for message in messages:
            positions[(message.topic(), message.partition())] = message.offset() + 1
        for (topic, partition), position in positions.items():
            # cached=True: the high watermark that came with the last fetch, no broker round trip.
            _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high >= 0:
                metrics.CONSUMER_LAG.labels(partition).set(max(high - position, 0))

    def _on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("assigned partitions %s", sorted(tp.partition for tp in partitions))
        self.last_activity = time.monotonic()  # a rebalance is news: give the new partitions their time

    def _on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("partitions %s revoked", sorted(tp.partition for tp in partitions))
        self._forget(partitions)
        self._commit_stored()

    def _on_lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        # Someone else owns them already: committing now could overwrite their progress.
        logger.warning("partitions %s lost", sorted(tp.partition for tp in partitions))
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        self.gather.forget((tp.topic, tp.partition) for tp in partitions)
        for tp in partitions:
            self.failures.pop((tp.topic, tp.partition), None)
            self.resume_at.pop((tp.topic, tp.partition), None)

    def _idle_long_enough(self) -> bool:
        idle_exit, since = self.options.idle_exit, self.last_activity
        # Waiting to join the group is not idleness: partitions held by a killed member come after its session.
        return (
            idle_exit is not None and since is not None and not self.resume_at and time.monotonic() - since >= idle_exit
        )

    def _touch_liveness(self) -> None:
        now = time.monotonic()
        if self.options.liveness_file and now - self.last_liveness >= 1.0:
            Path(self.options.liveness_file).touch()
            self.last_liveness = now

    def _close_worker_connections(self) -> None:
        # Each worker thread holds a database connection: make every thread close its own.
        workers = self.options.concurrency
        barrier = threading.Barrier(workers)

        def close_own() -> None:
            barrier.wait(timeout=10)
            connections.close_all()

        list(self.pool.map(lambda _: close_own(), range(workers)))


def _group_by_order(events: list[tuple[Message, OrderEvent]]) -> dict[str, list[tuple[Message, OrderEvent]]]:
    by_order: dict[str, list[tuple[Message, OrderEvent]]] = defaultdict(list)
    for message, event in events:
        by_order[event.order_id].append((message, event))
    return by_order


def _without_errors(batch: list[Message]) -> list[Message]:
    """Kafka's own notices (an unknown topic, say) come as messages with an error: log, keep the rest."""
    for message in batch:
        if message.error() is not None:
            logger.warning("Kafka reported: %s", message.error())
    return [message for message in batch if message.error() is None]


def _origin(message: Message) -> tuple[str, int, int]:
    return message.topic(), message.partition(), message.offset()


def _rewind_to(retry_from: dict[Partition, int], partition: Partition, offset: int) -> None:
    retry_from[partition] = min(offset, retry_from.get(partition, offset))


def _log_events(order_events: list[tuple[Message, OrderEvent]], handled: Handled) -> None:
    result = handled.result
    metrics.EVENTS.labels(str(result.outcome)).inc(len(order_events))
    for message, event in order_events:
        logger.info(
            "order %s: event said %s, order is %s: %s (%.1f ms)",
            event.order_id,
            event.status,
            result.order_status or "not found",
            result.outcome,
            handled.seconds * 1000,
            extra={
                "order_id": event.order_id,
                "event_status": event.status,
                "order_status": result.order_status,
                "outcome": str(result.outcome),
                "duration_ms": round(handled.seconds * 1000, 1),
                "partition": message.partition(),
                "offset": message.offset(),
            },
        )
