"""The embedded broker: a mock cluster in a child process, topics made on demand."""

import signal
import subprocess
import sys
from uuid import uuid4

import pytest
from confluent_kafka import Producer

from sandbox.broker import EmbeddedBroker, ensure_topics


def test_topics_are_made_with_four_partitions(kafka_broker):
    names = [f"test.{uuid4().hex}" for _ in range(2)]

    ensure_topics(kafka_broker, *names)

    topics = Producer({"bootstrap.servers": kafka_broker}).list_topics(timeout=10).topics
    assert [len(topics[name].partitions) for name in names] == [4, 4]


def test_a_broker_of_three_reports_three_addresses_and_stops():
    broker = EmbeddedBroker(num_brokers=3).start()
    process = broker._process
    try:
        addresses = broker.bootstrap_servers.split(",")
        assert len(addresses) == 3
        assert all(address.startswith("127.0.0.1:") for address in addresses)
    finally:
        broker.stop()

    assert process.returncode == 0  # it ended as asked, not killed


def test_the_holder_exits_when_its_parent_closes_its_stdin():
    holder = subprocess.Popen(
        [sys.executable, "-m", "sandbox.broker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert holder.stdout.readline().strip()
        holder.stdin.close()
        assert holder.wait(timeout=10) == 0
    finally:
        holder.kill()
        holder.stdout.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_holder_ends_cleanly_on_a_signal(signum):
    """Ctrl-C, or a kill of its process group: exit 0, where Python's shutdown used to abort it (SIGABRT)."""
    holder = subprocess.Popen([sys.executable, "-m", "sandbox.broker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip()
        holder.send_signal(signum)
        assert holder.wait(timeout=10) == 0
    finally:
        holder.kill()
        holder.stdin.close()
        holder.stdout.close()
