"""The real broker: Apache Kafka from Maven Central jars, started on demand and never left behind."""

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import pytest
from confluent_kafka import KafkaError, Producer

from sandbox import kafka_server
from sandbox.kafka_server import KafkaServerError, fetch_jars
from tests.brokers import REAL_KAFKA


@REAL_KAFKA
def test_the_real_broker_answers_and_creates_no_topic_on_request(real_kafka):
    name = f"test.{uuid4().hex}"

    metadata = Producer({"bootstrap.servers": real_kafka.bootstrap_servers}).list_topics(name, timeout=10)

    assert len(metadata.brokers) == 1
    assert metadata.topics[name].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


@REAL_KAFKA
def test_the_command_prints_the_address_and_ctrl_c_stops_the_broker():
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.kafka_server"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        readable, _, _ = select.select([process.stdout], [], [], kafka_server.START_TIMEOUT)
        address = process.stdout.readline().strip() if readable else ""
        assert address.startswith("127.0.0.1:"), "no address printed"
        (jvm,) = children(process.pid)
        assert len(Producer({"bootstrap.servers": address}).list_topics(timeout=10).brokers) == 1

        process.send_signal(signal.SIGINT)

        assert process.wait(60) == 0
        assert not alive(jvm)
    finally:
        process.kill()
        process.stdout.close()


def test_a_child_started_for_the_broker_dies_with_its_parent():
    # The JVM is started this way; `sleep` stands in for it, so that no JVM is needed to test it.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, time\n"
            "from sandbox.kafka_server import _die_with_parent\n"
            "child = subprocess.Popen(['sleep', '60'], preexec_fn=_die_with_parent)\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = int(parent.stdout.readline())
    assert alive(child)

    parent.kill()
    parent.wait(10)
    parent.stdout.close()

    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)


def test_cached_jars_are_reused_without_maven(tmp_path, monkeypatch):
    (tmp_path / "libs").mkdir()
    (tmp_path / "libs" / ".complete").touch()
    monkeypatch.setattr(kafka_server.shutil, "which", lambda name: None)

    assert fetch_jars(tmp_path) == tmp_path / "libs"


def test_without_maven_and_without_cached_jars_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(kafka_server.shutil, "which", lambda name: None)

    with pytest.raises(KafkaServerError, match="apt-get install maven"):
        fetch_jars(tmp_path)


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def alive(pid: int) -> bool:
    """Running: neither gone nor a zombie waiting for its reaper."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" not in status
