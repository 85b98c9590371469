"""Outbox rows onto the topic, through an idempotent producer; which ones the broker acknowledged."""

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from couriers.consumer.kafka import producer_config
from couriers.models import OutboxEvent

logger = logging.getLogger(__name__)

_PENDING = object()


def relay_producer_config(*, publish_timeout: float, **overrides: Any) -> dict[str, Any]:
    """Idempotence: the broker drops a retried duplicate and keeps each partition's order (acks=all)."""
    return producer_config(
        **{
            "enable.idempotence": True,
            "client.id": "service-courier-relay",
            # A message the broker did not take within the publish timeout is reported failed, not left pending.
            "message.timeout.ms": int(publish_timeout * 1000),
            **overrides,
        }
    )


class Publisher:
    def __init__(self, make_producer: Callable[[], Producer], topic: str, *, publish_timeout: float) -> None:
        self.make_producer = make_producer
        self.producer = make_producer()
        self.topic = topic
        self.publish_timeout = publish_timeout

    def publish(self, rows: Sequence[OutboxEvent]) -> set[int]:
        """Send the rows in their order, keyed by order id; the ids of those the broker acknowledged."""
        results: dict[int, object] = {}
        for row in rows:
            results[row.pk] = _PENDING

            def on_delivery(error: KafkaError | None, _: Message, pk: int = row.pk) -> None:
                results[pk] = error

            try:
                self._produce(row, on_delivery)
            except KafkaException as exc:
                results[row.pk] = exc.args[0]
        # A little over message.timeout.ms: by then every message is acknowledged or reported failed.
        self.producer.flush(self.publish_timeout + 5)
        failed = {pk: error for pk, error in results.items() if error is not None}
        if failed:
            logger.debug(
                "%s of %s outbox rows not acknowledged: %s", len(failed), len(rows), next(iter(failed.values()))
            )
        if any(isinstance(error, KafkaError) and error.fatal() for error in failed.values()):
            self._renew(next(iter(failed.values())))
        return set(results) - set(failed)

    def _renew(self, error: object) -> None:
        # An idempotent producer that lost its sequence (a fatal error) refuses every message after: a new one,
        # with a new producer id, takes over. Its rows were not marked, so they go out again.
        logger.error("outbox relay: the producer failed for good (%s): a new one takes over", error)
        self.producer = self.make_producer()

    def _produce(self, row: OutboxEvent, on_delivery: Any) -> None:
        while True:
            try:
                self.producer.produce(
                    self.topic,
                    key=row.order_id.encode(),
                    value=json.dumps(row.payload, separators=(",", ":")).encode(),
                    headers=[("event_id", str(row.event_id).encode()), ("event_type", row.type.encode())],
                    on_delivery=on_delivery,
                )
                return
            except BufferError:  # the producer's queue is full: let it send, then go on
                self.producer.poll(0.1)
