"""Dead-lettering: a message we cannot use goes to the DLQ topic with the reason, untouched if it fits.

A message the DLQ cannot take whole (over the producer's `message.max.bytes`, or refused by the broker
as too large) is dead-lettered as a record of its origin instead: topic, partition, offset, size,
reason and its first bytes, as JSON. Sending never raises for one message: what the DLQ did not
confirm is reported back, so that its offset is not stored and it is tried again later.
"""

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from couriers import metrics

logger = logging.getLogger(__name__)

REASON = "dlq.reason"
ORIGINAL_TOPIC = "dlq.original.topic"
ORIGINAL_PARTITION = "dlq.original.partition"
ORIGINAL_OFFSET = "dlq.original.offset"
ORIGINAL_SIZE = "dlq.original.size"
DEAD_LETTERED_AT = "dlq.at"
ATTEMPTS = "dlq.attempts"
LAST_ERROR = "dlq.last_error"
CONTENT = "dlq.content"  # "record": the value is a record of the origin, not the message
RECORD_FIRST_BYTES = 512

Origin = tuple[str, int, int]
_PENDING = object()


@dataclass(frozen=True)
class Letter:
    message: Message
    reason: str
    headers: tuple[tuple[str, bytes], ...] = ()  # more about the reason: attempts, last error


class DeadLetters:
    def __init__(self, producer: Producer, topic: str, *, flush_timeout: float = 30.0) -> None:
        self.producer = producer
        self.topic = topic
        self.flush_timeout = flush_timeout
        # Dead-lettered past their partition's stored offset: after a rewind they come again.
        self.sent: set[Origin] = set()

    def send(self, letters: Iterable[Letter]) -> set[Origin]:
        """Publish each letter once and wait for the broker. Returns the origins the DLQ did not take."""
        fresh = [letter for letter in letters if origin(letter.message) not in self.sent]
        if not fresh:
            return set()
        results = self._publish(fresh, whole=True)
        too_large = [letter for letter in fresh if _too_large(results[origin(letter.message)])]
        if too_large:
            results.update(self._publish(too_large, whole=False))
        failed = {key for key, error in results.items() if error is not None}
        delivered = {origin(letter.message) for letter in fresh} - failed
        self.sent |= delivered
        metrics.DEAD_LETTERS.inc(len(delivered))
        metrics.EVENTS.labels("dead_lettered").inc(len(delivered))
        return failed

    def forget_before(self, stored: Iterable[TopicPartition]) -> None:
        """Offsets stored: messages before them never come again."""
        position = {(tp.topic, tp.partition): tp.offset for tp in stored}
        self.sent = {(t, p, offset) for t, p, offset in self.sent if offset >= position.get((t, p), 0)}

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        """No longer ours (revoked, lost): whoever owns them now dead-letters for themselves."""
        gone = set(partitions)
        self.sent = {sent for sent in self.sent if sent[:2] not in gone}

    def _publish(self, letters: list[Letter], *, whole: bool) -> dict[Origin, object]:
        results: dict[Origin, object] = {}
        for letter in letters:
            key = origin(letter.message)
            results[key] = _PENDING

            def on_delivery(error: KafkaError | None, _: Message, key: Origin = key) -> None:
                results[key] = error

            value, headers = (letter.message.value(), _headers(letter)) if whole else _record(letter)
            try:
                self.producer.produce(
                    self.topic, value=value, key=letter.message.key(), headers=headers, on_delivery=on_delivery
                )
            except (KafkaException, BufferError) as exc:
                results[key] = exc.args[0] if isinstance(exc, KafkaException) else KafkaError(KafkaError._QUEUE_FULL)
        self.producer.flush(self.flush_timeout)
        for key, error in results.items():
            if error is _PENDING:
                results[key] = KafkaError(KafkaError._MSG_TIMED_OUT)
            elif error is not None and not (whole and _too_large(error)):
                logger.error("dead letter from %s not taken by %s: %s", key, self.topic, error)
        return results


def origin(message: Message) -> Origin:
    return message.topic(), message.partition(), message.offset()


def _too_large(error: object) -> bool:
    return isinstance(error, KafkaError) and error.code() == KafkaError.MSG_SIZE_TOO_LARGE


def _headers(letter: Letter) -> list[tuple[str, bytes]]:
    return [*(letter.message.headers() or []), *_dlq_headers(letter)]


def _dlq_headers(letter: Letter) -> list[tuple[str, bytes]]:
    message = letter.message
    return [
        (REASON, letter.reason.encode()),
        (ORIGINAL_TOPIC, message.topic().encode()),
        (ORIGINAL_PARTITION, str(message.partition()).encode()),
        (ORIGINAL_OFFSET, str(message.offset()).encode()),
        (DEAD_LETTERED_AT, datetime.now(UTC).isoformat().encode()),
        *letter.headers,
    ]


def _record(letter: Letter) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The message as a record of where it came from: all the DLQ can hold of it."""
    message = letter.message
    value = message.value() or b""
    logger.warning(
        "message at %s/%s/%s (%s bytes) is too large for the dead-letter topic: dead-lettered as a record of it",
        *origin(message),
        len(value),
    )
    record = {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "size": len(value),
        "reason": letter.reason,
        "first_bytes": value[:RECORD_FIRST_BYTES].decode("utf-8", errors="backslashreplace"),
    }
    extra = [(ORIGINAL_SIZE, str(len(value)).encode()), (CONTENT, b"record")]
    return json.dumps(record).encode(), [*_dlq_headers(letter), *extra]
