"""Creating the service's topics: production brokers create none on a client's first request."""

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

from couriers.consumer.kafka import Cluster, KafkaUnavailable


@dataclass(frozen=True)
class TopicState:
    name: str
    created: bool
    partitions: int
    replication_factor: int
    wanted_partitions: int
    wanted_replication_factor: int

    @property
    def as_wanted(self) -> bool:
        return (self.partitions, self.replication_factor) == (self.wanted_partitions, self.wanted_replication_factor)

    def describe(self) -> str:
        shape = f"{self.partitions} partitions, replication factor {self.replication_factor}"
        if self.created:
            return f"{self.name}: created ({shape})"
        if self.as_wanted:
            return f"{self.name}: exists ({shape})"
        wanted = f"{self.wanted_partitions} partitions, replication factor {self.wanted_replication_factor}"
        return f"{self.name}: exists with {shape}, not the {wanted} asked for (left as it is)"


def topics_ensure(
    config: dict[str, Any],
    names: Iterable[str],
    *,
    partitions: int,
    replication_factor: int,
    timeout: float = 15.0,
) -> list[TopicState]:
    """Create the topics that are missing; report the shape of each. Never alters an existing topic."""
    names = list(dict.fromkeys(names))
    cluster = Cluster(config)
    existing = cluster.metadata(timeout).topics
    missing = [NewTopic(name, partitions, replication_factor) for name in names if name not in existing]
    created = set()
    if missing:
        futures = cluster.admin.create_topics(missing, request_timeout=timeout, operation_timeout=timeout)
        for name, future in futures.items():
            if _create(name, future, timeout):
                created.add(name)
        existing = _wait_visible(cluster, names, timeout)
    return [_state(name, existing, name in created, partitions, replication_factor) for name in names]


def _wait_visible(cluster: Cluster, names: list[str], timeout: float) -> dict[str, Any]:
    """A created topic reaches the broker's metadata a moment after create_topics returns: wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        existing = cluster.metadata(timeout).topics
        if all(name in existing and existing[name].error is None for name in names) or time.monotonic() > deadline:
            return existing
        time.sleep(0.1)


def _create(name: str, future: Any, timeout: float) -> bool:
    """True when we created it, False when someone else just did."""
    try:
        future.result(timeout)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise KafkaUnavailable(f"Kafka refused to create topic {name}: {error.str()}") from exc
    return True


def _state(name: str, existing: dict[str, Any], created: bool, partitions: int, replication_factor: int) -> TopicState:
    topic = existing.get(name)
    if topic is None or topic.error is not None:
        raise KafkaUnavailable(f"topic {name} is not visible after creation: {topic.error if topic else 'missing'}")
    replicas = min((len(p.replicas) for p in topic.partitions.values()), default=0)
    return TopicState(name, created, len(topic.partitions), replicas, partitions, replication_factor)
