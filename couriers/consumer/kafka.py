"""librdkafka configuration for every client the service makes, from settings, and a check that Kafka answers."""

from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata
from django.conf import settings


class KafkaUnavailable(RuntimeError):
    """Kafka did not answer, or refused us (`refused`: our credentials or TLS); the message names the settings."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


def client_config(**overrides: Any) -> dict[str, Any]:
    """What every client needs to reach the brokers: the address, and authentication and TLS when set."""
    return {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, **settings.KAFKA_SECURITY.librdkafka(), **overrides}


def consumer_config(**overrides: Any) -> dict[str, Any]:
    return client_config(
        **{
            "group.id": settings.KAFKA_GROUP_ID,
            "group.protocol": settings.KAFKA_GROUP_PROTOCOL,
            **_group_timing(),
            "auto.offset.reset": "earliest",
            # At-least-once: we store an offset ourselves once its work is committed; librdkafka commits what is stored.
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "max.poll.interval.ms": settings.KAFKA_MAX_POLL_INTERVAL_MS,
            # How long a fetch waits for data when a partition has none. librdkafka's 500 ms set the pace of
            # the embedded broker (events came every half second: p50 latency 520 ms -> 120 ms in the bench); a
            # real broker answers as soon as data comes, and this only adds idle fetches.
            "fetch.wait.max.ms": 100,
            "client.id": "service-courier",
            **overrides,
        }
    )


def _group_timing() -> dict[str, Any]:
    # Under KIP-848 the broker times the session; librdkafka refuses session.timeout.ms there.
    if settings.KAFKA_GROUP_PROTOCOL == "consumer":
        return {}
    return {"session.timeout.ms": settings.KAFKA_SESSION_TIMEOUT_MS}


def producer_config(**overrides: Any) -> dict[str, Any]:
    return client_config(
        **{
            "acks": "all",
            "linger.ms": 5,
            "client.id": "service-courier-dlq",
            # The broker's limit: what the DLQ cannot take whole is dead-lettered as a record of its origin.
            "message.max.bytes": settings.KAFKA_DLQ_MESSAGE_MAX_BYTES,
            **overrides,
        }
    )


class Cluster:
    """An admin client that keeps what librdkafka reported, to say why Kafka did not answer."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.bootstrap = config["bootstrap.servers"]
        self.errors: list[KafkaError] = []
        # Quiet: librdkafka would print every failed connection attempt; error_cb keeps the causes.
        self.admin = AdminClient({**config, "error_cb": self.errors.append, "log_level": 0})

    def metadata(self, timeout: float) -> ClusterMetadata:
        """The cluster's metadata, or KafkaUnavailable saying why there is none."""
        try:
            return self.admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            self.admin.poll(0)  # serves error_cb: the cause (authentication, TLS) comes as an error event
            raise self._explain(exc.args[0]) from exc

    def _explain(self, failure: KafkaError) -> KafkaUnavailable:
        causes = [error for error in self.errors if error.code() in _CAUSES] or [failure]
        cause = causes[-1]
        setting = _CAUSES.get(cause.code(), "KAFKA_BOOTSTRAP_SERVERS")
        return KafkaUnavailable(
            f"Kafka at {self.bootstrap} did not answer: {cause.str()} (check {setting})",
            refused=cause.code() in _REFUSALS,
        )


# What an error event says about the settings; anything else reads as "unreachable".
_CAUSES = {
    KafkaError._AUTHENTICATION: "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD, KAFKA_SASL_MECHANISM",
    KafkaError._SSL: "KAFKA_SSL_CA_LOCATION, KAFKA_SSL_CERTIFICATE_LOCATION, KAFKA_SSL_KEY_LOCATION",
    KafkaError._TRANSPORT: "KAFKA_BOOTSTRAP_SERVERS and KAFKA_SECURITY_PROTOCOL",
}
_REFUSALS = {KafkaError._AUTHENTICATION, KafkaError._SSL}
