"""The embedded broker: a mock cluster in a child process, topics made on demand."""

import os
import signal
import subprocess
import sys
from uuid import uuid4

import pytest
from confluent_kafka import Producer

from sandbox.broker import EmbeddedBroker, ensure_topics
from tests.brokers import BrokerRestarted, alive


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


def test_a_running_holder_is_left_as_it_is(tmp_path):
    with EmbeddedBroker(log=tmp_path / "broker.log") as broker:
        pid, bootstrap = broker.pid, broker.bootstrap_servers

        assert broker.death() is None
        assert broker.restart_if_dead() is None
        assert (broker.pid, broker.bootstrap_servers) == (pid, bootstrap)


def test_a_killed_holder_is_reported_with_its_signal_and_last_output_and_replaced(tmp_path):
    with EmbeddedBroker(log=tmp_path / "broker.log") as broker:
        old_pid, old_bootstrap = broker.pid, broker.bootstrap_servers
        broker.kill()  # as the OOM killer would

        death = broker.restart_if_dead()

        assert death is not None
        assert f"at {old_bootstrap} (pid {old_pid}) died: killed by SIGKILL" in death
        assert "Mock cluster enabled" in death  # librdkafka's first words, from the log
        assert broker.pid != old_pid
        assert broker.death() is None
        ensure_topics(broker.bootstrap_servers, f"test.{uuid4().hex}")  # the new one answers


def test_a_holder_stopped_by_a_signal_to_its_group_says_so(tmp_path):
    with EmbeddedBroker(log=tmp_path / "broker.log") as broker:
        os.kill(broker.pid, signal.SIGINT)  # what Ctrl-C or a kill of the process group sends it
        broker._process.wait(10)

        death = broker.death()

    assert "died: exit code 0" in death
    assert death.endswith("embedded broker: stopping on SIGINT")


def test_a_new_holder_reports_only_its_own_output(tmp_path):
    with EmbeddedBroker(log=tmp_path / "broker.log") as broker:
        os.kill(broker.pid, signal.SIGTERM)
        broker._process.wait(10)
        broker.restart_if_dead()
        broker.kill()

        death = broker.death()

    assert "SIGTERM" not in death  # the first holder's last words
    assert "Mock cluster enabled" in death


def test_the_fixtures_replace_a_dead_session_broker_with_a_warning(tmp_path):
    with EmbeddedBroker(log=tmp_path / "broker.log") as broker:
        broker.kill()

        with pytest.warns(BrokerRestarted, match=r"killed by SIGKILL(.|\n)*started a new one at 127\.0\.0\.1:"):
            assert alive(broker) is broker

        ensure_topics(broker.bootstrap_servers, f"test.{uuid4().hex}")
