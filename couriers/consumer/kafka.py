"""librdkafka configuration for the consumer and the dead-letter producer, from settings."""

from typing import Any

from django.conf import settings


def consumer_config(**overrides: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
        "group.id": settings.KAFKA_GROUP_ID,
        "auto.offset.reset": "earliest",
        # At-least-once: we store an offset ourselves once its work is committed; librdkafka commits what is stored.
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "session.timeout.ms": settings.KAFKA_SESSION_TIMEOUT_MS,
        "max.poll.interval.ms": settings.KAFKA_MAX_POLL_INTERVAL_MS,
        "client.id": "service-courier",
        **overrides,
    }


def producer_config(**overrides: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
        "acks": "all",
        "linger.ms": 5,
        "client.id": "service-courier-dlq",
        "message.max.bytes": settings.KAFKA_DLQ_MESSAGE_MAX_BYTES,
        **overrides,
    }
