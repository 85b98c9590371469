"""BatchProgress: what is stored per partition, and where a partition resumes."""

from couriers.consumer.progress import BatchProgress
from tests.fakes import FakeMessage


def message(partition: int, offset: int) -> FakeMessage:
    return FakeMessage(b"{}", partition=partition, offset=offset)


def test_offsets_go_past_each_partitions_last_message_when_all_is_done():
    progress = BatchProgress([message(0, 5), message(0, 6), message(1, 9)])

    assert {(tp.partition, tp.offset) for tp in progress.offsets()} == {(0, 7), (1, 10)}
    assert sorted(progress.finished()) == [("t", 0), ("t", 1)]


def test_a_partition_stops_before_its_first_message_still_to_do():
    progress = BatchProgress([message(0, 5), message(0, 6), message(0, 7), message(1, 9)])

    progress.retry("t", 0, 7)
    progress.retry("t", 0, 6)
    progress.retry("t", 0, 7)

    assert {(tp.partition, tp.offset) for tp in progress.offsets()} == {(0, 6), (1, 10)}
    assert progress.retry_from == {("t", 0): 6}
    assert progress.finished() == [("t", 1)]
