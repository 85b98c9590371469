"""Rebalance callbacks: under incremental assignment (KIP-848) they get only the partitions that change."""

from confluent_kafka import TopicPartition

from couriers.consumer.backoff import Backoff
from couriers.consumer.loop import ConsumerOptions, OrderEventConsumer


class CommitCounter:
    def __init__(self) -> None:
        self.commits = 0

    def commit(self, asynchronous: bool) -> None:
        self.commits += 1


def loop_with_state(consumer: CommitCounter) -> OrderEventConsumer:
    options = ConsumerOptions(topic="t", max_event_bytes=1024, batch_size=1, concurrency=1, backoff=Backoff(1, 1))
    loop = OrderEventConsumer(consumer=consumer, dead_letters=None, handle=None, options=options)
    loop.failures = {("t", 0): 2, ("t", 1): 3}
    loop.resume_at = {("t", 0): 10.0, ("t", 1): 20.0}
    loop.dead_lettered = {("t", 0, 5), ("t", 1, 7)}
    return loop


def test_a_revocation_forgets_only_the_revoked_partitions_and_commits():
    consumer = CommitCounter()
    loop = loop_with_state(consumer)

    loop._on_revoke(consumer, [TopicPartition("t", 0)])

    # Partition 1 stays assigned, and paused: its backoff and dead letters are still ours.
    assert loop.failures == {("t", 1): 3}
    assert loop.resume_at == {("t", 1): 20.0}
    assert loop.dead_lettered == {("t", 1, 7)}
    assert consumer.commits == 1


def test_a_lost_partition_is_forgotten_without_a_commit():
    consumer = CommitCounter()
    loop = loop_with_state(consumer)

    loop._on_lost(consumer, [TopicPartition("t", 1)])

    assert loop.failures == {("t", 0): 2}
    assert loop.resume_at == {("t", 0): 10.0}
    assert loop.dead_lettered == {("t", 0, 5)}
    assert consumer.commits == 0
