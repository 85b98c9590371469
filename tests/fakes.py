"""Test doubles for what lies outside the project."""

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, KafkaError, KafkaException

from couriers.services import EventResult, Outcome, Reading
from gateway.orders import Order, OrderNotFound, OrderServiceError


class FakeOrderClient:
    """service-order in memory: set an order's status, or an error to raise, per order id."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.errors: dict[str, OrderServiceError] = {}
        self.calls: list[str] = []

    def set(self, order_id: str, status: str) -> None:
        self.statuses[order_id] = status

    def fail(self, order_id: str, error: OrderServiceError) -> None:
        self.errors[order_id] = error

    def get_order(self, order_id: str) -> Order:
        self.calls.append(order_id)
        if order_id in self.errors:
            raise self.errors[order_id]
        if order_id not in self.statuses:
            raise OrderNotFound(order_id)
        return Order(id=order_id, status=self.statuses[order_id])


class ScriptedChecks:
    """A batch's service calls (couriers.consumer.batch.Checks) that fail on cue, and record their calls.

    An error per order id, or `down` for every order: service-order's errors are raised when the order is
    read, any other (the database's, a bug) when it is decided. Every order is "cooking" and unchanged.
    """

    def __init__(self, errors: dict[str, Exception] | None = None, down: Exception | None = None) -> None:
        self.errors = errors or {}
        self.down = down
        self.settled_error: Exception | None = None  # raised by record_settled
        self.settles = False  # record_settled takes every reading
        self.read_calls: list[str] = []
        self.applied: list[str] = []
        self.lock = threading.Lock()

    def read(self, order_id: str, event_statuses: Sequence[str], produced_at: datetime | None = None) -> Reading:
        with self.lock:
            self.read_calls.append(order_id)
        self._raise(order_id, service_order=True)
        return Reading(order_id, tuple(event_statuses), "cooking", datetime.now(UTC))

    def record_settled(self, readings: Sequence[Reading]) -> dict[str, EventResult]:
        if self.settled_error is not None:
            raise self.settled_error
        return {r.order_id: EventResult(Outcome.UNCHANGED, "cooking") for r in readings if self.settles}

    def start(self, readings: Sequence[Reading]) -> dict[str, EventResult]:
        return {}  # every order has its delivery: each is decided alone (apply)

    def apply(self, reading: Reading) -> EventResult:
        self.applied.append(reading.order_id)
        self._raise(reading.order_id, service_order=False)
        return EventResult(Outcome.UNCHANGED, "cooking")

    def _raise(self, order_id: str, *, service_order: bool) -> None:
        error = self.down or self.errors.get(order_id)
        if error is not None and isinstance(error, OrderServiceError) == service_order:
            raise error


class FakeMessage:
    """A Kafka message as confluent-kafka hands it over."""

    def __init__(
        self,
        value: bytes | None,
        *,
        topic: str = "t",
        partition: int = 0,
        offset: int = 0,
        timestamp_ms: int | None = None,  # None: the producer set none
    ) -> None:
        self._value, self._topic, self._partition, self._offset = value, topic, partition, offset
        self._timestamp_ms = timestamp_ms

    def timestamp(self) -> tuple[int, int]:
        if self._timestamp_ms is None:
            return TIMESTAMP_NOT_AVAILABLE, -1
        return TIMESTAMP_CREATE_TIME, self._timestamp_ms

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return None

    def headers(self) -> list[tuple[str, bytes]] | None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def error(self) -> None:
        return None


class FakeConsumer:
    """What the loop asks of a confluent-kafka Consumer, recorded as (call, partition, offset)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.stored: dict[int, int] = {}

    def seek(self, tp) -> None:
        self.calls.append(("seek", tp.partition, tp.offset))

    def pause(self, tps) -> None:
        self.calls += [("pause", tp.partition, tp.offset) for tp in tps]

    def resume(self, tps) -> None:
        self.calls += [("resume", tp.partition, tp.offset) for tp in tps]

    def store_offsets(self, *, offsets) -> None:
        self.stored.update({tp.partition: tp.offset for tp in offsets})

    def get_watermark_offsets(self, tp, cached: bool = False) -> tuple[int, int]:
        return -1, -1


class FakeProducer:
    """Takes what fits in `max_bytes`; `broker_max` refuses larger ones in the delivery report."""

    def __init__(self, max_bytes: int = 10_000, broker_max: int | None = None, full: bool = False) -> None:
        self.max_bytes, self.broker_max, self.full = max_bytes, broker_max, full
        self.sent: list[tuple[bytes, dict[str, bytes]]] = []
        self.reports = []

    def produce(self, topic, *, value, key, headers, on_delivery) -> None:
        if self.full:
            raise BufferError("queue full")
        if len(value) > self.max_bytes:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        if self.broker_max is not None and len(value) > self.broker_max:
            self.reports.append((on_delivery, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)))
            return
        self.sent.append((value, dict(headers)))
        self.reports.append((on_delivery, None))

    def flush(self, timeout: float) -> int:
        for on_delivery, error in self.reports:
            on_delivery(error, None)
        self.reports = []
        return 0
