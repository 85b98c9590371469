"""service-order's Kafka events, shaped by the chaos options and sent to a sink (Kafka, or a list)."""

import copy
import heapq
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import KafkaError, Message, Producer

from sandbox.chaos import MALFORMED_KINDS, Chaos, event, malformed_event
from sandbox.orders import LIFECYCLE, random_uuid, rfc3339

logger = logging.getLogger(__name__)


class Sink(Protocol):
    failed: int  # events the sink could not deliver

    def send(self, payload: bytes) -> None: ...

    def poll(self) -> None: ...

    def in_flight(self) -> int: ...

    def close(self, timeout: float) -> None: ...


def sasl_config(environ: Mapping[str, str]) -> dict[str, str]:
    """SASL/PLAIN credentials from SIMULATOR_KAFKA_USERNAME and SIMULATOR_KAFKA_PASSWORD (compose's broker, where
    the simulator may only write its topic); none when they are unset (the embedded broker)."""
    username = environ.get("SIMULATOR_KAFKA_USERNAME", "")
    if not username:
        return {}
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": username,
        "sasl.password": environ.get("SIMULATOR_KAFKA_PASSWORD", ""),
    }


class KafkaSink:
    """A topic, written like service-order does: JSON values, no key."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.failed = 0
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, **sasl_config(os.environ)}
        )

    def send(self, payload: bytes) -> None:
        while True:
            try:
                self._producer.produce(self.topic, value=payload, on_delivery=self._delivered)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.1)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed += 1
            logger.error("event not delivered to %s: %s", self.topic, error)

    def poll(self) -> None:
        self._producer.poll(0)

    def in_flight(self) -> int:
        return len(self._producer)

    def close(self, timeout: float) -> None:
        left = self._producer.flush(timeout)
        if left:
            logger.warning("%d events still undelivered to %s at close", left, self.topic)


class MemorySink:
    """Keeps the payloads: for tests that need the events but no broker."""

    def __init__(self) -> None:
        self.failed = 0
        self._lock = threading.Lock()
        self._payloads: list[bytes] = []

    def send(self, payload: bytes) -> None:
        with self._lock:
            self._payloads.append(payload)

    @property
    def payloads(self) -> list[bytes]:
        with self._lock:
            return list(self._payloads)

    def poll(self) -> None:
        pass

    def in_flight(self) -> int:
        return 0

    def close(self, timeout: float) -> None:
        pass


@dataclass
class PublishRecord:
    """What was sent, so that a test or a demo can check what a consumer made of it."""

    sent: dict[str, list[str]] = field(default_factory=dict)  # real order -> statuses sent, copies included
    unknown: list[str] = field(default_factory=list)  # ids of orders that never existed, one per event
    malformed: Counter[str] = field(default_factory=Counter)  # kind -> events
    failed: int = 0  # events the sink could not deliver

    @property
    def valid_total(self) -> int:
        return sum(len(statuses) for statuses in self.sent.values())

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())


@dataclass(frozen=True)
class _Outgoing:
    payload: bytes
    kind: str  # "valid", "unknown" or a malformed kind
    order_id: str
    status: str


class Publisher:
    """Turns status changes into events. Not thread-safe: one thread publishes and releases."""

    def __init__(
        self,
        sink: Sink,
        chaos: Chaos | None = None,
        seed: int | None = None,
    ) -> None:
        self.sink = sink
        self.chaos = chaos or Chaos()
        self._seed = seed if seed is not None else random.getrandbits(64)
        # How many events share a reorder window depends on timing: its draws are kept apart.
        self._shuffler = random.Random(f"{self._seed}:shuffle")
        self._outbox: list[tuple[float, int, _Outgoing]] = []
        self._sequence = 0
        self._malformed_sent = 0
        self._record = PublishRecord()
        self._record_lock = threading.Lock()

    def publish(self, order_id: str, status: str, produced_at: float) -> None:
        """One status change of a real order, plus whatever chaos adds around it."""
        # Draws of each change's own: how orders' changes interleave depends on timing, a seeded run must not.
        rng = random.Random(f"{self._seed}:{order_id}:{status}")
        created_at = rfc3339(produced_at)
        outgoing = _Outgoing(event(order_id, status, created_at), "valid", order_id, status)
        for _ in range(self._copies(rng)):
            self._enqueue(outgoing, rng)
        if rng.random() < self.chaos.unknown_probability:
            stranger = random_uuid(rng)
            claimed = rng.choice(("created", *(step for step, _ in LIFECYCLE)))
            self._enqueue(_Outgoing(event(stranger, claimed, created_at), "unknown", stranger, claimed), rng)
        if rng.random() < self.chaos.malformed_probability:
            # Kinds in turn, so that a handful of malformed events covers them all.
            kind = MALFORMED_KINDS[self._malformed_sent % len(MALFORMED_KINDS)]
            self._malformed_sent += 1
            self._enqueue(_Outgoing(malformed_event(kind, order_id, created_at), kind, order_id, ""), rng)

    def _copies(self, rng: random.Random) -> int:
        if self.chaos.max_copies > 1 and rng.random() < self.chaos.duplicate_probability:
            return rng.randint(2, self.chaos.max_copies)
        return 1

    def _enqueue(self, outgoing: _Outgoing, rng: random.Random) -> None:
        release_at = time.monotonic() + rng.uniform(0, self.chaos.max_delay)
        window = self.chaos.reorder_window
        if window > 0:
            # Held back to the end of its window, then shuffled with the others released with it.
            release_at = (release_at // window + 1) * window
        self._sequence += 1
        heapq.heappush(self._outbox, (release_at, self._sequence, outgoing))

    def release(self) -> None:
        """Send every event whose time has come, and serve the sink's delivery reports."""
        now = time.monotonic()
        due = []
        while self._outbox and self._outbox[0][0] <= now:
            due.append(heapq.heappop(self._outbox)[2])
        if self.chaos.reorder_window > 0:
            self._shuffler.shuffle(due)
        for outgoing in due:
            self.sink.send(outgoing.payload)
            self._note(outgoing)
        self.sink.poll()

    def _note(self, outgoing: _Outgoing) -> None:
        with self._record_lock:
            if outgoing.kind == "valid":
                self._record.sent.setdefault(outgoing.order_id, []).append(outgoing.status)
            elif outgoing.kind == "unknown":
                self._record.unknown.append(outgoing.order_id)
            else:
                self._record.malformed[outgoing.kind] += 1

    def idle(self) -> bool:
        """Nothing held back and nothing awaiting the broker's acknowledgement."""
        return not self._outbox and self.sink.in_flight() == 0

    def record(self) -> PublishRecord:
        with self._record_lock:
            snapshot = copy.deepcopy(self._record)
        snapshot.failed = self.sink.failed
        return snapshot
