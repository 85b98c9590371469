"""Rebalance callbacks: under incremental assignment (KIP-848) they get only the partitions that change."""

from confluent_kafka import TopicPartition

from couriers.consumer.backoff import Backoff
from couriers.consumer.dead_letters import DeadLetters
from couriers.consumer.loop import ConsumerOptions, OrderEventConsumer
from tests.fakes import FakeConsumer, FakeMessage, FakeProducer


class GroupMember(FakeConsumer):
    """A consumer that owns `assigned` and counts its commits."""

    def __init__(self, assigned: list[int]) -> None:
        super().__init__()
        self.assigned = assigned
        self.commits = 0

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("t", partition) for partition in self.assigned]

    def commit(self, asynchronous: bool) -> None:
        self.commits += 1


def loop_with_state(consumer: GroupMember) -> OrderEventConsumer:
    """Partitions 0 and 1 both paused, each with a dead letter past its stored offset."""
    options = ConsumerOptions(topic="t", max_event_bytes=1024, batch_size=1, concurrency=1, backoff=Backoff(10, 10))
    loop = OrderEventConsumer(
        consumer=consumer, dead_letters=DeadLetters(FakeProducer(), "dlq"), checks=None, options=options
    )
    loop.pauses.pause(("t", 0), 5)
    loop.pauses.pause(("t", 1), 7)
    loop.dead_letters.sent = {("t", 0, 5), ("t", 1, 7)}
    return loop


def test_a_revocation_forgets_only_the_revoked_partitions_and_commits():
    consumer = GroupMember([0, 1])
    loop = loop_with_state(consumer)

    loop._on_revoke(consumer, [TopicPartition("t", 0)])

    # Partition 1 stays assigned, and paused: its backoff and dead letters are still ours.
    assert set(loop.pauses.resume_at) == {("t", 1)}
    assert loop.dead_letters.sent == {("t", 1, 7)}
    assert ("resume", 0, -1001) in consumer.calls  # librdkafka would keep it paused if it came back to us
    assert consumer.commits == 1


def test_a_lost_partition_is_forgotten_without_a_commit():
    consumer = GroupMember([0, 1])
    loop = loop_with_state(consumer)

    loop._on_lost(consumer, [TopicPartition("t", 1)])

    assert set(loop.pauses.resume_at) == {("t", 0)}
    assert loop.dead_letters.sent == {("t", 0, 5)}
    assert consumer.commits == 0


def test_messages_of_a_partition_revoked_while_the_batch_was_taken_are_left_to_their_new_owner():
    consumer = GroupMember([1])
    loop = loop_with_state(consumer)
    batch = [FakeMessage(b"{}", partition=0, offset=9), FakeMessage(b"{}", partition=1, offset=3)]

    assert [(m.partition(), m.offset()) for m in loop._owned(batch)] == [(1, 3)]


def test_kafka_notices_are_kept_whatever_their_partition():
    class Notice(FakeMessage):
        def error(self) -> str:
            return "unknown topic"

    loop = loop_with_state(GroupMember([1]))
    notice = Notice(None, partition=-1)

    assert loop._owned([notice]) == [notice]
