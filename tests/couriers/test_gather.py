"""The gatherer: batches of the oldest messages over every partition, from a backlog handed over partition by partition."""

from dataclasses import dataclass

from couriers.consumer.gather import READ_AHEAD_BATCHES, Gatherer

TOPIC = "order.status.changed"


@dataclass
class FakeMessage:
    """The part of confluent_kafka.Message the gatherer reads."""

    part: int
    position: int
    time_ms: int
    problem: str | None = None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self.part

    def offset(self) -> int:
        return self.position

    def timestamp(self) -> tuple[int, int]:
        return 1, self.time_ms  # 1: TIMESTAMP_CREATE_TIME

    def error(self) -> str | None:
        return self.problem


class FetchQueue:
    """librdkafka's local queue as the application sees it: whatever was fetched, in the order fetched."""

    def __init__(self, messages: list[FakeMessage]) -> None:
        self.messages = messages
        self.calls: list[tuple[int, float]] = []

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        self.calls.append((num_messages, timeout))
        taken, self.messages = self.messages[:num_messages], self.messages[num_messages:]
        return taken


def backlog(partitions: int, per_partition: int) -> list[FakeMessage]:
    """Events produced round-robin over the partitions in time, fetched one partition after the other."""
    return [
        FakeMessage(part, offset, time_ms=offset * partitions + part)
        for part in range(partitions)
        for offset in range(per_partition)
    ]


def positions(batch: list[FakeMessage]) -> list[tuple[int, int]]:
    return [(m.partition(), m.offset()) for m in batch]


def test_a_batch_holds_the_oldest_messages_of_every_partition():
    gatherer = Gatherer(FetchQueue(backlog(4, 10)), batch_size=8, poll_timeout=1.0)

    batch = gatherer.take()

    assert positions(batch) == [(p, o) for o in range(2) for p in range(4)], "not partition 0's first eight"


def test_every_message_is_taken_once_each_partition_in_offset_order():
    gatherer = Gatherer(FetchQueue(backlog(4, 50)), batch_size=7, poll_timeout=1.0)

    taken = [message for _ in range(40) for message in gatherer.take()]

    assert sorted(positions(taken)) == [(p, o) for p in range(4) for o in range(50)]
    for part in range(4):
        assert [m.offset() for m in taken if m.partition() == part] == list(range(50))


def test_without_timestamps_the_partitions_alternate_by_offset():
    untimed = [FakeMessage(part, offset, time_ms=-1) for part in range(2) for offset in range(4)]
    gatherer = Gatherer(FetchQueue(untimed), batch_size=4, poll_timeout=1.0)

    assert positions(gatherer.take()) == [(0, 0), (1, 0), (0, 1), (1, 1)]


def test_a_rewound_partition_is_dropped_to_come_again_from_kafka():
    gatherer = Gatherer(FetchQueue(backlog(2, 10)), batch_size=4, poll_timeout=1.0)
    gatherer.take()

    gatherer.forget([(TOPIC, 0)])

    assert {m.partition() for m in gatherer.take()} == {1}


def test_read_ahead_is_bounded():
    queue = FetchQueue(backlog(4, 1000))
    gatherer = Gatherer(queue, batch_size=10, poll_timeout=1.0)

    gatherer.take()

    assert len(queue.messages) == 4000 - 10 * READ_AHEAD_BATCHES


def test_it_waits_only_for_the_first_message_and_hands_on_kafkas_notices():
    notice = FakeMessage(-1, -1, 0, problem="unknown topic")
    queue = FetchQueue([notice, *backlog(1, 3)])
    gatherer = Gatherer(queue, batch_size=10, poll_timeout=1.0)

    batch = gatherer.take()

    assert batch[0] is notice
    assert positions(batch[1:]) == [(0, 0), (0, 1), (0, 2)]
    assert queue.calls[0] == (1, 1.0)
    assert all(timeout == 0 for _, timeout in queue.calls[1:])
    assert gatherer.take() == []
