"""Closing the consumer: it leaves the group before closing, and Kafka holding the GIL cannot hold the process."""

import ctypes
import logging
import subprocess
import sys
from pathlib import Path

from confluent_kafka import TopicPartition

from couriers.consumer.backoff import Backoff
from couriers.consumer.dead_letters import DeadLetters
from couriers.consumer.loop import ConsumerOptions, OrderEventConsumer
from tests.fakes import FakeProducer, ScriptedChecks

REPO = Path(__file__).resolve().parents[3]


class GroupMember:
    """A consumer holding partition 0 until, after unsubscribe, a poll serves the revocation (as librdkafka does)."""

    def __init__(self, *, revocation_comes: bool = True) -> None:
        self.calls: list[str] = []
        self.assigned = [TopicPartition("t", 0)]
        self.revocation_comes = revocation_comes
        self.on_revoke = None

    def commit(self, *, asynchronous: bool) -> None:
        self.calls.append("commit")

    def unsubscribe(self) -> None:
        self.calls.append("unsubscribe")

    def assignment(self) -> list[TopicPartition]:
        return self.assigned

    def poll(self, timeout: float) -> None:
        self.calls.append("poll")
        if self.revocation_comes and "unsubscribe" in self.calls:
            self.on_revoke(self, self.assigned)
            self.assigned = []

    def close(self) -> None:
        self.calls.append("close")


class HoldingTheGil(GroupMember):
    """Its close blocks in C with the GIL held, as librdkafka's can (issue 4527)."""

    def close(self) -> None:
        ctypes.PyDLL(None).sleep(60)  # PyDLL: the GIL is not released around the call


def make_loop(consumer: GroupMember, close_timeout: float) -> OrderEventConsumer:
    options = ConsumerOptions(
        topic="t",
        max_event_bytes=1024,
        batch_size=10,
        concurrency=1,
        backoff=Backoff(1, 1),
        close_timeout=close_timeout,
    )
    loop = OrderEventConsumer(
        consumer=consumer, dead_letters=DeadLetters(FakeProducer(), "t.dlq"), checks=ScriptedChecks(), options=options
    )
    consumer.on_revoke = loop._on_revoke
    return loop


def test_close_commits_then_leaves_the_group_then_closes(caplog):
    consumer = GroupMember()
    caplog.set_level(logging.INFO, logger="couriers.consumer.loop")

    make_loop(consumer, close_timeout=10).close()

    # The revocation's callback commits again; close finds nothing assigned, so no rebalance of its own.
    assert consumer.calls == ["commit", "unsubscribe", "poll", "commit", "close"]
    assert "consumer closed" in caplog.messages


def test_a_revocation_that_never_comes_still_lets_close_run(caplog):
    consumer = GroupMember(revocation_comes=False)
    caplog.set_level(logging.INFO, logger="couriers.consumer.loop")

    make_loop(consumer, close_timeout=2).close()

    assert consumer.calls[:2] == ["commit", "unsubscribe"]
    assert set(consumer.calls[2:-1]) == {"poll"}
    assert consumer.calls[-1] == "close"
    assert "consumer closed" in caplog.messages


def test_a_close_stuck_in_kafka_with_the_gil_held_ends_the_process_with_every_stack():
    script = (
        "import django; django.setup()\n"
        "from tests.couriers.consumer.test_close import HoldingTheGil, make_loop\n"
        "make_loop(HoldingTheGil(), close_timeout=0.5).close()\n"
        "print('close returned')\n"
    )
    env = {"DJANGO_SETTINGS_MODULE": "courier_project.test_settings", "PATH": "/usr/bin:/bin"}

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    assert "close returned" not in result.stdout
    assert "Timeout (0:00:02.500000)!" in result.stderr
    assert "in _commit_and_close" in result.stderr  # the stack of the thread Kafka holds
