"""IdleClock: --idle-exit fires only with nothing left to do: no rebalance, no retry waiting, the group's lag 0."""

from types import SimpleNamespace

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from couriers.consumer.idle import IdleClock

IDLE_EXIT = 10.0


class Broker:
    """What the clock asks of a consumer: the topic's partitions and their ends, the group's committed offsets,
    this member's assignment (`owned`: every partition unless said)."""

    def __init__(self, ends: dict[int, int], committed: dict[int, int], owned: set[int] | None = None) -> None:
        self.ends, self.committed_at = ends, committed
        self.owned = set(ends) if owned is None else owned
        self.commits = 0
        self.down = False

    def list_topics(self, topic: str, timeout: float) -> SimpleNamespace:
        partitions = dict.fromkeys(self.ends)
        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions=partitions)})

    def commit(self, asynchronous: bool) -> None:
        self.commits += 1
        raise KafkaException(KafkaError(KafkaError._NO_OFFSET))

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("t", p) for p in self.owned]

    def committed(self, partitions, timeout: float) -> list[TopicPartition]:
        if self.down:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        return [TopicPartition("t", tp.partition, self.committed_at.get(tp.partition, -1001)) for tp in partitions]

    def get_watermark_offsets(self, tp, timeout: float) -> tuple[int, int]:
        return 0, self.ends[tp.partition]


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def idle_clock(broker: Broker) -> tuple[IdleClock, Clock]:
    clock = Clock()
    return IdleClock(broker, IDLE_EXIT, topic="t", clock=clock), clock


def nothing_waiting() -> bool:
    return False


def test_idle_long_enough_with_lag_zero_is_over():
    broker = Broker(ends={0: 5, 1: 0}, committed={0: 5})
    idle, clock = idle_clock(broker)
    idle.assigned()
    clock.now += IDLE_EXIT - 1
    assert not idle.over(work_waiting=nothing_waiting)
    clock.now += 1
    assert idle.over(work_waiting=nothing_waiting)
    assert broker.commits == 1, "what is stored is committed before the lag is read"


def test_never_before_the_first_assignment():
    idle, clock = idle_clock(Broker(ends={}, committed={}))
    clock.now += IDLE_EXIT * 10
    assert not idle.over(work_waiting=nothing_waiting)


def test_a_revocation_that_leaves_partitions_ours_is_no_gap():
    idle, clock = idle_clock(Broker(ends={0: 5}, committed={0: 5}))  # partition 1 revoked, 0 still ours
    idle.assigned()
    idle.revoked()
    clock.now += IDLE_EXIT
    assert idle.over(work_waiting=nothing_waiting)


def test_never_between_a_revocation_and_the_next_assignment():
    broker = Broker(ends={0: 5}, committed={0: 5}, owned=set())
    idle, clock = idle_clock(broker)
    idle.assigned()
    idle.revoked()
    clock.now += IDLE_EXIT * 10
    assert not idle.over(work_waiting=nothing_waiting), "the group owes it partitions"
    broker.owned = {0}
    idle.assigned()
    clock.now += IDLE_EXIT
    assert idle.over(work_waiting=nothing_waiting)


def test_never_while_a_partition_it_does_not_hold_has_events_left():
    """A dead member's partitions before its session expires, or the rest of an incremental assignment."""
    broker = Broker(ends={0: 5, 1: 4}, committed={0: 5, 1: 1}, owned={0})
    idle, clock = idle_clock(broker)
    idle.assigned()
    clock.now += IDLE_EXIT
    assert not idle.over(work_waiting=nothing_waiting)
    broker.committed_at[1] = 4  # another member caught up
    clock.now += IDLE_EXIT
    assert idle.over(work_waiting=nothing_waiting)


def test_a_member_that_got_no_partition_exits_only_once_the_group_has_caught_up():
    broker = Broker(ends={0: 5, 1: 4}, committed={0: 5}, owned=set())
    idle, clock = idle_clock(broker)
    idle.assigned()
    clock.now += IDLE_EXIT
    assert not idle.over(work_waiting=nothing_waiting)
    broker.committed_at[1] = 4
    clock.now += IDLE_EXIT
    assert idle.over(work_waiting=nothing_waiting)


def test_never_while_events_wait_for_a_retry():
    idle, clock = idle_clock(Broker(ends={0: 5}, committed={0: 5}))
    idle.assigned()
    clock.now += IDLE_EXIT
    assert not idle.over(work_waiting=lambda: True)


def test_never_with_events_behind_a_committed_offset_nor_when_the_lag_is_unknown():
    broker = Broker(ends={0: 5, 1: 3}, committed={0: 5})  # partition 1: nothing committed, 3 events
    idle, clock = idle_clock(broker)
    idle.assigned()
    clock.now += IDLE_EXIT
    assert not idle.over(work_waiting=nothing_waiting)
    broker.committed_at[1] = 3
    broker.down = True
    clock.now += IDLE_EXIT
    assert not idle.over(work_waiting=nothing_waiting)
    broker.down = False
    assert idle.over(work_waiting=nothing_waiting)
