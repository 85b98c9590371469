"""PartitionPauses: rewind and pause, resume when due, waits that grow with failures in a row."""

from couriers.consumer.backoff import Backoff
from couriers.consumer.partitions import PartitionPauses
from tests.fakes import FakeConsumer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pauses(clock: Clock) -> tuple[PartitionPauses, FakeConsumer]:
    consumer = FakeConsumer()
    return PartitionPauses(consumer, Backoff(initial=1.0, maximum=4.0), clock=clock), consumer


def test_a_paused_partition_is_rewound_and_resumes_once_its_wait_is_over():
    clock = Clock()
    partitions, consumer = pauses(clock)

    partitions.pause(("t", 3), 42)
    partitions.resume_due()
    clock.now += 1.0  # the first wait is between 0.5 and 1 s

    assert consumer.calls == [("seek", 3, 42), ("pause", 3, 42)]
    partitions.resume_due()
    assert consumer.calls[-1][:2] == ("resume", 3)
    assert partitions.any_waiting, "resumed, but its events are not read again yet"
    partitions.progressed([("t", 3)])
    assert not partitions.any_waiting


def test_waits_grow_with_failures_in_a_row_up_to_the_maximum_and_start_small_after_progress():
    clock = Clock()
    partitions, _ = pauses(clock)
    waits = []
    for _ in range(5):
        partitions.pause(("t", 0), 0)
        waits.append(partitions.resume_at[("t", 0)] - clock.now)
    assert waits[0] <= 1.0 < waits[2]
    assert all(wait <= 4.0 for wait in waits)

    partitions.progressed([("t", 0)])
    partitions.pause(("t", 0), 0)

    assert partitions.resume_at[("t", 0)] - clock.now <= 1.0


def test_a_partition_due_waits_longer_while_not_ready():
    clock = Clock()
    partitions, consumer = pauses(clock)
    partitions.pause(("t", 1), 7)
    clock.now += 1.0

    partitions.resume_due(ready=lambda: False)

    assert partitions.resume_at[("t", 1)] > clock.now
    assert not [call for call in consumer.calls if call[0] == "resume"]
    assert partitions.failures[("t", 1)] == 2


def test_revoked_partitions_are_resumed_and_forgotten():
    clock = Clock()
    partitions, consumer = pauses(clock)
    partitions.pause(("t", 1), 7)

    partitions.forget([("t", 1), ("t", 2)])
    clock.now += 10
    partitions.resume_due()

    assert not partitions.any_waiting
    # librdkafka keeps the pause across a rebalance: were it not lifted, the partition assigned again would stall.
    assert [call[:2] for call in consumer.calls if call[0] == "resume"] == [("resume", 1)]
