"""manage.py bench: its parts, and a short run end to end. Figures must be there and positive; speed is not judged."""

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from django.conf import settings
from django.core.management.base import CommandError

from sandbox.bench.consumer_process import EventLog
from sandbox.bench.fleet import FinalState
from sandbox.bench.measure import latency
from sandbox.bench.runner import BenchConfig
from sandbox.bench.stream import ACTIVE_STATUSES, Produced, backlog_stream_make, stream_make
from sandbox.kafka_server import INSTALL
from sandbox.latency import ResponseDelay
from sandbox.management.commands import bench
from tests.brokers import REAL_KAFKA

BENCH_TIMEOUT = 480  # seconds: seven consumer runs, on a machine that may be busy with other work

FIGURES = {
    "consumer_default": {
        "events",
        "seconds",
        "events_per_second",
        "orders_per_second",
        "order_checks",
        "order_checks_per_second",
        "order_checks_per_order",
        "cpu_ms_per_check",
        "cpu_us_per_event",
        "peak_db_connections",
        "peak_rss_mb",
        "cpu_seconds",
    },
    "raw_kafka_read": {"count", "seconds", "per_second"},
    "work_ceiling": {"count", "seconds", "per_second"},
    "latency": {"rate_per_second", "events", "p50_ms", "p95_ms", "p99_ms", "max_ms"},
    "ratios": {
        "default_vs_one_at_a_time_events_per_second",
        "default_vs_work_ceiling_orders_per_second",
        "default_vs_raw_read_events_per_second",
        "default_at_latency_vs_default_events_per_second",
        "default_vs_one_at_a_time_at_latency_events_per_second",
    },
}
FIGURES["outbox"] = {
    "events",
    "events_per_check",
    "cpu_ms_per_check_with",
    "cpu_ms_per_check_without",
    "cpu_ms_per_check_cost",
    "cpu_ms_per_event",
}
SIGNED = {"cpu_ms_per_check_cost", "cpu_ms_per_event"}  # a difference of two measures: noise may make it negative
CONSUMER_PHASES = (
    "consumer_default_without_outbox",
    "consumer_one_at_a_time",
    "consumer_default_at_latency",
    "consumer_one_at_a_time_at_latency",
    "backlog",
    "backlog_uneven",
)
FIGURES.update(dict.fromkeys(CONSUMER_PHASES, FIGURES["consumer_default"]))


def test_the_stream_gives_every_order_its_share_of_active_events_shuffled():
    orders = [f"order-{i}" for i in range(7)]

    payloads = [json.loads(payload) for payload in stream_make(orders, 50, seed=3)]

    per_order = {order: [p["status"] for p in payloads if p["order_id"] == order] for order in orders}
    assert len(payloads) == 50
    assert sorted(len(statuses) for statuses in per_order.values()) == [7, 7, 7, 7, 7, 7, 8]
    assert all(set(statuses) == set(ACTIVE_STATUSES) for statuses in per_order.values())
    assert [p["order_id"] for p in payloads[:7]] != orders, "not shuffled"


def test_the_backlog_stream_holds_the_same_events_each_orders_close_together():
    orders = [f"order-{i}" for i in range(100)]

    shuffled = [json.loads(payload) for payload in stream_make(orders, 1000, seed=3)]
    backlog = [json.loads(payload) for payload in backlog_stream_make(orders, 1000, seed=3)]

    assert sorted((p["order_id"], p["status"]) for p in backlog) == sorted(
        (p["order_id"], p["status"]) for p in shuffled
    )
    positions: dict[str, list[int]] = {}
    for position, payload in enumerate(backlog):
        positions.setdefault(payload["order_id"], []).append(position)
    spans = sorted(max(p) - min(p) for p in positions.values())
    assert spans[-1] < 200, "an order's ten events lie within about ten orders' share of the stream"


def test_the_simulated_latency_has_the_median_asked_and_a_tail_five_times_longer():
    delay = ResponseDelay(0.010, seed=1)

    draws = sorted(delay.draw() for _ in range(20000))

    assert 0.0095 < draws[10000] < 0.0105
    assert 0.045 < draws[19800] < 0.055
    assert ResponseDelay(0).draw() == 0


def test_latency_joins_delivery_reports_to_the_consumers_log_lines():
    start = 1_767_225_600.0
    log = EventLog()
    log.read_line("Traceback (most recent call last):")  # not JSON: ignored
    log.read_line(json.dumps({"time": iso(start), "message": "assigned partitions [0]"}))
    for offset in range(0, 100, 2):  # events `offset`, `offset` + 1 of one order committed `offset` + 2 ms after
        committed = {"time": iso(start + 1 + (offset + 2) / 1000), "event_statuses": ["created", "created"]}
        log.read_line(json.dumps({**committed, "events": [[0, offset], [0, offset + 1]]}))
    produced = [Produced(0, offset, start + 1) for offset in range(100)]

    figures = latency(produced, log.committed_at)

    assert log.assigned_at == start
    assert (figures.events, round(figures.p50_ms), round(figures.p99_ms), round(figures.max_ms)) == (100, 50, 100, 100)


@pytest.mark.e2e
@pytest.mark.timeout(BENCH_TIMEOUT + 120)
def test_a_short_bench_reports_every_figure_and_processes_every_event(tmp_path):
    bench_db = f"courier_bench_test_{uuid4().hex[:8]}"
    options = ("--events", "1500", "--orders", "150", "--memory-check", "--bench-db", bench_db)
    report, output = run_bench(tmp_path, "--quick", "--order-latency-ms", "10", "--backlog", *options)

    on_postgresql = report["machine"]["database_vendor"] == "postgresql"
    for section, keys in FIGURES.items():
        assert set(report[section]) == keys, section
        figures = {
            k: v
            for k, v in report[section].items()
            if (k != "peak_db_connections" or on_postgresql) and k not in SIGNED
        }
        assert all(value > 0 for value in figures.values()), (section, report[section])
    assert report["order_latency_ms"] == 10
    assert set(report["memory"]) == {"events", "rss_mb_early", "early_mark", "rss_mb_end", "growth_mb"}
    assert report["memory"]["events"] == 15000
    assert report["memory"]["rss_mb_early"] > 0
    assert report["memory"]["rss_mb_end"] > 0
    assert set(report["machine"]) == {
        "cpu_count",
        "python",
        "django",
        "platform",
        "database_vendor",
        "broker",
        "transport",
    }
    assert report["stream"] == {"events": 1500, "orders": 150}
    assert report["consumer_default"]["events"] == 1500
    assert report["consumer_default_without_outbox"]["events"] == 1500
    assert report["outbox"]["events"] >= 150  # each order's first assignment at least, relayed before the stop
    assert "ms per check" in output
    assert report["raw_kafka_read"]["count"] == 1500
    assert report["work_ceiling"]["count"] == 150
    assert report["consumer_one_at_a_time"]["events"] >= 150
    assert report["consumer_default_at_latency"]["events"] == 1500
    assert report["backlog"]["events"] == 1500
    assert report["backlog_uneven"]["events"] == 1500
    assert report["checks"] == {"all_events_processed": True, "all_orders_assigned": True}
    assert "consumer, default, 10 ms" in output
    assert "backlog, default, 10 ms" in output
    assert "backlog, uneven, default, 10 ms" in output
    assert "latency at" in output
    assert "memory: RSS" in output
    assert not database_exists(bench_db), "the bench database was not dropped"


@REAL_KAFKA
@pytest.mark.e2e
@pytest.mark.timeout(BENCH_TIMEOUT + 120)
def test_a_short_bench_on_the_real_broker_processes_every_event_and_names_the_broker(tmp_path):
    options = ("--events", "300", "--orders", "30", "--bench-db", f"courier_bench_test_{uuid4().hex[:8]}")
    report, output = run_bench(tmp_path, "--broker", "real", "--quick", "--skip-latency", *options)

    assert report["machine"]["broker"] == "real"
    assert report["consumer_default"]["events"] == 300
    assert report["raw_kafka_read"]["count"] == 300
    assert report["checks"] == {"all_events_processed": True, "all_orders_assigned": True}
    assert "Kafka broker: real (Apache Kafka" in output


def test_the_broker_option_reaches_the_config_embedded_by_default(monkeypatch):
    monkeypatch.setattr(bench, "missing_tools", lambda: [])

    assert bench_config().broker == "embedded"
    assert bench_config("--broker", "real").broker == "real"


def test_the_transport_option_reaches_the_config_http_by_default():
    assert bench_config().transport == "http"
    assert bench_config("--transport", "grpc").transport == "grpc"


@pytest.mark.e2e
@pytest.mark.timeout(BENCH_TIMEOUT + 120)
def test_a_short_bench_over_grpc_processes_every_event_and_says_so(tmp_path):
    options = ("--events", "300", "--orders", "30", "--bench-db", f"courier_bench_test_{uuid4().hex[:8]}")
    report, output = run_bench(tmp_path, "--transport", "grpc", "--quick", "--skip-latency", *options)

    assert report["machine"]["transport"] == "grpc"
    assert report["consumer_default"]["events"] == 300
    assert report["consumer_default"]["order_checks"] > 0
    assert report["checks"] == {"all_events_processed": True, "all_orders_assigned": True}
    assert "service-order over grpc" in output


def test_the_real_broker_without_java_is_refused_in_one_line_naming_what_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)

    with pytest.raises(CommandError) as refused:
        bench_config("--broker", "real")

    assert str(refused.value).startswith("--broker real needs java")
    assert INSTALL in str(refused.value)
    assert "\n" not in str(refused.value)


def bench_config(*args: str) -> BenchConfig:
    """The options as the command parses them, made into the bench's config."""
    options = bench.Command().create_parser("manage.py", "bench").parse_args(args)
    return bench._config(vars(options))


def run_bench(tmp_path: Path, *args: str) -> tuple[dict, str]:
    """The command as a user runs it; on a timeout its whole process group is stopped."""
    report = tmp_path / "bench.json"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "bench", "--json", str(report), *args],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "courier_project.test_settings", "DEBUG": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=BENCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # the bench unwinds: consumers stopped, database dropped
        output, _ = process.communicate(timeout=60)
        pytest.fail(f"the bench did not finish within {BENCH_TIMEOUT} s:\n{output[-4000:]}")
    assert process.returncode == 0, output[-4000:]
    return json.loads(report.read_text()), output


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def database_exists(name: str) -> bool:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return False  # SQLite: the bench used a temporary file
    with psycopg.connect(
        dbname="postgres",
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
    ) as maintenance:
        return maintenance.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def test_a_courier_idle_next_to_a_waiting_order_fails_the_check():
    every_order_open = FinalState(orders=3, with_open_delivery=3, couriers_consistent=True, idle_while_waiting=0)

    assert every_order_open.ok
    assert not replace(every_order_open, idle_while_waiting=1).ok
