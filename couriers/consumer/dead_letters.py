"""Dead-lettering: a message we cannot use goes, untouched, to the DLQ topic with the reason."""

from datetime import UTC, datetime

from confluent_kafka import KafkaError, Message, Producer

REASON = "dlq.reason"
ORIGINAL_TOPIC = "dlq.original.topic"
ORIGINAL_PARTITION = "dlq.original.partition"
ORIGINAL_OFFSET = "dlq.original.offset"
DEAD_LETTERED_AT = "dlq.at"


class DeadLetterError(RuntimeError):
    """The DLQ did not take the message: its offset must not be stored."""


class DeadLetters:
    def __init__(self, producer: Producer, topic: str, *, flush_timeout: float = 30.0) -> None:
        self.producer = producer
        self.topic = topic
        self.flush_timeout = flush_timeout

    def send(self, messages: list[tuple[Message, str]]) -> set[tuple[str, int, int]]:
        """Publish each (message, reason) and wait for the broker. Returns the origins it could not take."""
        failed: set[tuple[str, int, int]] = set()
        for message, reason in messages:
            origin = _origin(message)

            def on_delivery(error: KafkaError | None, _: Message, origin: tuple[str, int, int] = origin) -> None:
                if error is not None:
                    failed.add(origin)

            self.producer.produce(
                self.topic,
                value=message.value(),
                key=message.key(),
                headers=_headers(message, reason),
                on_delivery=on_delivery,
            )
        if messages and self.producer.flush(self.flush_timeout) > 0:
            failed.update(_origin(message) for message, _ in messages)
        return failed


def _origin(message: Message) -> tuple[str, int, int]:
    return message.topic(), message.partition(), message.offset()


def _headers(message: Message, reason: str) -> list[tuple[str, bytes]]:
    return [
        *(message.headers() or []),
        (REASON, reason.encode()),
        (ORIGINAL_TOPIC, message.topic().encode()),
        (ORIGINAL_PARTITION, str(message.partition()).encode()),
        (ORIGINAL_OFFSET, str(message.offset()).encode()),
        (DEAD_LETTERED_AT, datetime.now(UTC).isoformat().encode()),
    ]
