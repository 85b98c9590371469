"""The simulator's life cycle and events, on its real clock, into a MemorySink."""

import json
from collections import Counter

import pytest

from sandbox.chaos import HUGE_PAYLOAD_BYTES, MALFORMED_KINDS, Chaos
from sandbox.publisher import MemorySink
from sandbox.simulator import Simulator

LIFE = ["created", "pending", "confirmed", "cooking", "delivering", "completed"]
FAST = 0.0002  # an order's 15 minutes in 0.2 s


def run(count: int, **options) -> tuple[Simulator, MemorySink, list[str]]:
    sink = MemorySink()
    with Simulator(sink=sink, time_scale=FAST, **options) as simulator:
        ids = simulator.create_orders(count)
        simulator.wait_until_settled(timeout=20)
    return simulator, sink, ids


def events(sink: MemorySink) -> list[dict]:
    return [json.loads(payload) for payload in sink.payloads]


def test_every_order_lives_its_whole_life_with_one_event_per_change():
    simulator, sink, ids = run(10, seed=1)

    assert simulator.truth() == dict.fromkeys(ids, "completed")
    sent = events(sink)
    assert all(set(event) == {"order_id", "status", "created_at"} for event in sent)
    for order_id in ids:
        assert [event["status"] for event in sent if event["order_id"] == order_id] == LIFE
    record = simulator.record()
    assert record.sent == dict.fromkeys(ids, LIFE)
    assert (record.valid_total, record.unknown, record.malformed_total) == (60, [], 0)


def test_orders_spread_over_a_period_are_created_in_turn():
    sink = MemorySink()
    with Simulator(sink=sink, time_scale=FAST) as simulator:
        ids = simulator.create_orders(5, over=0.2)
        simulator.wait_until_settled(timeout=20)

    created = [event["order_id"] for event in events(sink) if event["status"] == "created"]
    assert created == ids
    assert simulator.truth() == dict.fromkeys(ids, "completed")


def test_a_frozen_simulator_publishes_what_was_due_and_nothing_more():
    sink = MemorySink()
    with Simulator(sink=sink, time_scale=1.0) as simulator:
        ids = simulator.create_orders(3)
        simulator.freeze()
        simulator.wait_until_settled(timeout=5)
        before = list(sink.payloads)
        simulator.wait_until_settled(timeout=5)

        assert simulator.truth() == dict.fromkeys(ids, "created")
        assert sink.payloads == before
        assert [event["status"] for event in events(sink)] == ["created"] * 3


def test_manual_changes_are_published_and_end_the_automatic_ones():
    sink = MemorySink()
    with Simulator(sink=sink, time_scale=1.0) as simulator:
        cancelled, deleted, updated = simulator.create_orders(3)
        assert simulator.cancel(cancelled)
        assert simulator.delete(deleted)
        assert simulator.update(updated)
        simulator.freeze()
        simulator.wait_until_settled(timeout=5)

    assert simulator.truth() == {cancelled: "canceled", deleted: "deleted", updated: "updated"}
    assert simulator.record().sent == {
        cancelled: ["created", "canceled"],
        deleted: ["created", "deleted"],
        updated: ["created", "updated"],
    }


@pytest.mark.parametrize(
    ("fate", "status"),
    [("cancel_fraction", "canceled"), ("delete_fraction", "deleted"), ("update_fraction", "updated")],
)
def test_chaos_fates_strike_at_some_moment_of_an_orders_life(fate, status):
    simulator, _, ids = run(10, seed=2, chaos=Chaos(**{fate: 1.0}))

    assert simulator.truth() == dict.fromkeys(ids, status)
    for statuses in simulator.record().sent.values():
        assert statuses[0] == "created"
        assert statuses[-1] == status
        assert statuses[:-1] == LIFE[: len(statuses) - 1]


def test_duplicates_repeat_events_and_the_record_counts_every_copy():
    simulator, sink, ids = run(10, seed=3, chaos=Chaos(duplicate_probability=0.5, max_copies=3))

    record = simulator.record()
    assert record.valid_total == len(sink.payloads) > 60
    for order_id in ids:
        statuses = record.sent[order_id]
        assert sorted(set(statuses), key=LIFE.index) == LIFE
        assert Counter(statuses) == Counter(event["status"] for event in events(sink) if event["order_id"] == order_id)
        assert max(Counter(statuses).values()) <= 3


def test_reordering_and_delays_mix_the_events_but_lose_none():
    _, sink, ids = run(20, seed=4, chaos=Chaos(reorder_window=0.05, max_delay=0.05))

    sent = events(sink)
    assert Counter(event["order_id"] for event in sent) == dict.fromkeys(ids, 6)
    in_order = all([event["status"] for event in sent if event["order_id"] == order_id] == LIFE for order_id in ids)
    assert not in_order


def test_unknown_and_malformed_events_come_with_the_valid_ones():
    simulator, sink, ids = run(20, seed=5, chaos=Chaos(unknown_probability=0.2, malformed_probability=0.3))

    record = simulator.record()
    assert record.unknown
    assert set(record.unknown).isdisjoint(ids)
    assert set(record.malformed) == set(MALFORMED_KINDS)
    assert len(sink.payloads) == record.valid_total + len(record.unknown) + record.malformed_total
    assert record.valid_total == 20 * 6
    assert max(len(payload) for payload in sink.payloads) > HUGE_PAYLOAD_BYTES


def test_a_seed_repeats_the_run():
    chaos = Chaos(cancel_fraction=0.3, delete_fraction=0.2, duplicate_probability=0.3, malformed_probability=0.2)
    first, _, first_ids = run(10, seed=9, chaos=chaos)
    second, _, second_ids = run(10, seed=9, chaos=chaos)

    assert first_ids == second_ids
    assert first.truth() == second.truth()
    assert first.record().sent == second.record().sent
    assert first.record().malformed == second.record().malformed
