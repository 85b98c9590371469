"""`manage.py demo` as `make demo ARGS=--no-serve` runs it: on a SQLite file of its own, whatever the suite uses."""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.e2e

ROOT = Path(settings.BASE_DIR)
ORDERS = 60
CONSISTENT = re.compile(r"(\d+) of \1 orders consistent")
CONSUMER_LOG = re.compile(r"log (\S+consumer\.log)")


def manage_demo(database: Path, *args: str, timeout: float = 280) -> subprocess.CompletedProcess[str]:
    """The command as `make demo` runs it (real settings, DEBUG=true), on the SQLite file `database`."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "courier_project.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{database}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "demo", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def run_demo(database: Path) -> subprocess.CompletedProcess[str]:
    # A short life per order (0.01: 9 s) and a short spread keep the run small; the checks are the demo's own.
    return manage_demo(
        database, "--no-serve", "--orders", str(ORDERS), "--spread", "3", "--time-scale", "0.01", "--seed", "7"
    )


def assert_consistent_report(run: subprocess.CompletedProcess[str]) -> None:
    output = f"exit code {run.returncode}\n--- stdout\n{run.stdout[-4000:]}\n--- stderr\n{run.stderr[-3000:]}"
    assert run.returncode == 0, output
    assert "Traceback" not in run.stdout + run.stderr, output
    assert "Events by outcome (every event counts" in run.stdout, output
    orders = {
        label: orders_row(run.stdout, label) for label in ("created", "got a courier", "directly", "from the queue")
    }
    assert orders["created"] == ORDERS, output
    assert orders["got a courier"] == orders["directly"] + orders["from the queue"] <= ORDERS, output
    assert orders["directly"] > 0, output
    for outcome in ("assigned", "queued", "completed", "cancelled", "not found", "dead-lettered"):
        assert re.search(rf"│ {outcome} +│ +\d+ │", run.stdout), f"no {outcome} row:\n{output}"
    consistent = CONSISTENT.search(run.stdout)
    assert consistent, output
    assert int(consistent.group(1)) >= ORDERS  # the orders, and the ids service-order never had


def orders_row(report: str, label: str) -> int:
    """A count of the per-order table ("Orders: what happened to each")."""
    table = report[report.index("Orders: what happened to each") : report.index("Events by outcome")]
    row = re.search(rf"│ +{label} +│ +(\d+) │", table)
    assert row, f"no {label!r} row in\n{table}"
    return int(row.group(1))


def consumer_log_lines(run: subprocess.CompletedProcess[str]) -> list[dict]:
    log = CONSUMER_LOG.search(run.stdout)
    assert log, run.stdout
    return [json.loads(line) for line in (ROOT / log.group(1)).read_text().splitlines() if line.startswith("{")]


def test_the_demo_ends_consistent_and_so_does_a_second_run_on_the_same_database(tmp_path):
    database = tmp_path / "demo.sqlite3"

    first = run_demo(database)
    assert_consistent_report(first)
    # Not a terminal: plain progress lines instead of a bar.
    assert "orders coming in: orders" in first.stdout
    assert "curl" not in first.stdout  # --no-serve: no server to ask
    outcomes = {line["outcome"] for line in consumer_log_lines(first) if "outcome" in line}
    assert {"assigned", "dead_lettered"} <= outcomes

    second = run_demo(database)
    assert_consistent_report(second)
    assert "deliveries of an earlier demo cleared" in second.stdout
    assert "(0 created, 30 reused) and 0 from elsewhere" in second.stdout
    assert "password was reset" in second.stdout


def test_a_web_port_in_use_is_refused_with_a_hint(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = manage_demo(tmp_path / "demo.sqlite3", "--port", str(port), timeout=60)
    assert run.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in run.stderr
    assert "--port" in run.stderr
    assert "Traceback" not in run.stderr
