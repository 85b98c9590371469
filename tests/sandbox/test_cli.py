"""The simulator as a process, as the demo and docker compose run it."""

import re
import select
import signal
import subprocess
import sys
import time
import uuid

import requests

from tests.sandbox.kafka import consume


def wait_for_line(process: subprocess.Popen, pattern: str, timeout: float = 20.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([process.stderr], [], [], 0.2)
        line = process.stderr.readline() if readable else ""
        if match := re.search(pattern, line):
            return match
        if readable and not line:
            break  # the process ended
    raise AssertionError(f"no line matching {pattern!r} from the simulator")


def test_the_simulator_serves_publishes_and_stops_on_sigterm(kafka_broker, topic):
    command = [sys.executable, "-m", "sandbox.simulator", "--bootstrap", kafka_broker, "--topic", topic]
    options = ["--port", "0", "--orders", "5", "--spread", "0", "--time-scale", "0.0002", "--seed", "1"]
    process = subprocess.Popen([*command, *options], stderr=subprocess.PIPE, text=True)
    try:
        url = wait_for_line(process, r"serving service-order's API at (\S+);").group(1)
        wait_for_line(process, r"reads faithful;")  # the real service-order's read rule unless --reads says else

        messages, _ = consume(kafka_broker, topic, 30)
        response = requests.get(f"{url}/public/api/v1/order/{uuid.uuid4()}/status", timeout=5)

        assert len(messages) == 30
        assert response.status_code == 404
        process.send_signal(signal.SIGTERM)
        assert "orders 5 {'completed': 5}" in wait_for_line(process, r"stopping; final: .*").group(0)
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()
        process.stderr.close()
