"""`manage.py demo` as `make demo ARGS=--no-serve` runs it: on a SQLite file of its own, whatever the suite uses."""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from sandbox.demo.ports import free_port, port_is_free

pytestmark = pytest.mark.e2e

ROOT = Path(settings.BASE_DIR)
ORDERS = 60
CONSISTENT = re.compile(r"(\d+) of \1 orders consistent")
CONSUMER_LOG = re.compile(r"log (\S+consumer\.log)")


def demo_env(database: Path) -> dict[str, str]:
    """The environment `make demo` gives manage.py (real settings, DEBUG=true), on the SQLite file `database`."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "courier_project.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{database}",
    }


def manage_demo(database: Path, *args: str, timeout: float = 280) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "demo", *args],
        cwd=ROOT,
        env=demo_env(database),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def add_a_courier_outside_the_demo(database: Path) -> None:
    create = (
        "from couriers.services import courier_create as c; c(name='Own', phone='+4915100000000', transport_type='car')"
    )
    command = [sys.executable, "manage.py", "shell", "-c", create]
    subprocess.run(command, cwd=ROOT, env=demo_env(database), check=True, capture_output=True, timeout=60)


def demo_users(database: Path) -> set[tuple[str, bool, bool, str | None]]:
    """(username, is_staff, is_superuser, group) of each user the demo made."""
    query = (
        "SELECT u.username, u.is_staff, u.is_superuser, g.name FROM auth_user u "
        "LEFT JOIN auth_user_groups ug ON ug.user_id = u.id LEFT JOIN auth_group g ON g.id = ug.group_id"
    )
    with sqlite3.connect(database) as db:
        return {(name, bool(staff), bool(superuser), group) for name, staff, superuser, group in db.execute(query)}


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
    # The faithful simulator reads completed orders as delivering: each is disputed, then settled by the rule.
    disputes = {label: orders_row(run.stdout, label) for label in ("disputed", "settled", "still disputed")}
    assert disputes["disputed"] > 0, output
    assert disputes == {**disputes, "settled": disputes["disputed"], "still disputed": 0}, output
    consistent = CONSISTENT.search(run.stdout)
    assert consistent, output
    assert int(consistent.group(1)) >= ORDERS  # the orders, and the ids service-order never had


def orders_row(report: str, label: str) -> int:
    """A count of the per-order table ("Orders: what happened to each")."""
    table = report[report.index("Orders: what happened to each") : report.index("Events by outcome")]
    row = re.search(rf"│ +{label} +│ +(\d+) │", table)
    assert row, f"no {label!r} row in\n{table}"
    return int(row.group(1))


def run_folder(run: subprocess.CompletedProcess[str]) -> Path:
    folder = re.search(r"^run folder (\S+)", run.stdout, flags=re.MULTILINE)
    assert folder, run.stdout
    return ROOT / folder.group(1)


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
    folder = run_folder(first)
    demo_log = (folder / "demo.log").read_text()
    assert "couriers: 30 in the database" in demo_log
    assert "orders coming in; service-order: orders" in demo_log
    assert f"check: {CONSISTENT.search(first.stdout).group(0)} with service-order" in demo_log
    simulator_log = (folder / "simulator.log").read_text()
    assert "GET /public/api/v1/order/" in simulator_log
    assert re.search(r"order \S+ is created: event published", simulator_log)

    assert "30 in the database: the demo's 30" in first.stdout
    assert re.search(r"dispatcher \(the dispatchers group\): password \S+, API token \w+", first.stdout)
    assert re.search(r"reader \(API reads only\): API token \w+", first.stdout)
    assert demo_users(database) == {
        ("demo", True, True, None),
        ("dispatcher", True, False, "dispatchers"),
        ("reader", False, False, "readers"),
    }
    add_a_courier_outside_the_demo(database)
    second = run_demo(database)
    assert_consistent_report(second)
    assert "deliveries of an earlier demo cleared" in second.stdout
    assert "31 in the database: the demo's 30 on foot, by scooter and by car (0 created, 30 reused) and 1 more" in (
        second.stdout
    )
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


def test_a_demo_in_the_background_stops_cleanly_on_sigterm(tmp_path):
    """As `make demo &` in a script: SIGINT ignored, so SIGTERM is the way to stop it; its curl uses --port."""
    port = free_port()
    output = tmp_path / "demo.out"
    args = ["--port", str(port), "--orders", "20", "--spread", "1", "--time-scale", "0.01", "--seed", "5"]
    with output.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "demo", *args],
            cwd=ROOT,
            env=demo_env(tmp_path / "demo.sqlite3"),
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
    try:
        wait_for_text(output, "Running until Ctrl-C, or SIGTERM", demo, timeout=240)
        demo.send_signal(signal.SIGINT)  # ignored, as in a background job of a shell
        assert demo.poll() is None
        demo.terminate()
        code = demo.wait(60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    text = output.read_text()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert f"http://127.0.0.1:{port}/api/v1/couriers/" in text  # the curl line uses --port
    assert "Stopping the web server, the consumer, the simulator and the broker." in text
    assert port_is_free(port)  # the web server went with it


def wait_for_text(path: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        assert process.poll() is None, f"exited {process.returncode}:\n{path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, path.read_text()[-3000:]
        time.sleep(0.3)
