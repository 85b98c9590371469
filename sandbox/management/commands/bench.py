"""python manage.py bench: the real pipeline on this machine, measured. See sandbox.bench."""

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any, get_args

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from couriers.management.arguments import positive_float, positive_int
from sandbox.bench.database import bench_database_refusal
from sandbox.bench.errors import BenchError
from sandbox.bench.report import table
from sandbox.bench.runner import Bench, BenchConfig, BrokerKind, Transport
from sandbox.kafka_server import CACHE, INSTALL, KafkaServerError, missing_tools

QUICK_EVENTS, QUICK_ORDERS, QUICK_LATENCY_SECONDS = 3000, 300, 4.0
LATENCY_SECONDS = 10.0
MEMORY_CHECK_FACTOR = 10  # the memory check's stream is this many times --events


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so that every `with` of the bench unwinds: processes stopped, database dropped


class Command(BaseCommand):
    help = (
        "Benchmark the pipeline on this machine (embedded or real Kafka, service-order simulator, consume_orders "
        "processes) in a database of its own: throughput, latency, memory and CPU, against one-at-a-time and the "
        "work ceiling."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=positive_int, help="events in the stream (default 20000)")
        parser.add_argument("--orders", type=positive_int, help="orders they are about (default 2000)")
        parser.add_argument("--quick", action="store_true", help=f"a short run: {QUICK_EVENTS} events (for CI)")
        parser.add_argument("--skip-latency", action="store_true", help="leave out the paced latency run")
        parser.add_argument(
            "--order-latency-ms",
            type=positive_float,
            default=0.0,
            metavar="MS",
            help="also run both consumers with service-order answering after this median (p99 five times it)",
        )
        parser.add_argument(
            "--backlog",
            action="store_true",
            help="also drain an outage's backlog: the stream in the order of time, all produced before the consumer starts",
        )
        parser.add_argument(
            "--memory-check",
            action="store_true",
            help=f"also run {MEMORY_CHECK_FACTOR}x --events through one consumer and compare its resident memory",
        )
        parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure to FILE as JSON")
        parser.add_argument(
            "--bench-db",
            default="",
            metavar="NAME",
            help="PostgreSQL: the database to recreate and drop (default: DATABASE_URL's name + _bench)",
        )
        parser.add_argument(
            "--transport",
            choices=get_args(Transport),
            default="http",
            help="how the consumers ask service-order (ORDER_SERVICE_TRANSPORT): its HTTP API or its gRPC one",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--broker",
            choices=get_args(BrokerKind),
            default="embedded",
            help="embedded: librdkafka's mock cluster; real: Apache Kafka in a JVM (Java 17, and Maven or its jars)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("the bench creates and drops a database: run it with DEBUG=true, never in production")
        config = _config(options)
        signal.signal(signal.SIGTERM, _interrupt)
        bench = Bench(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
        try:
            report = bench.run()
        except (BenchError, KafkaServerError) as exc:
            raise CommandError(f"benchmark failed: {exc}") from exc
        except KeyboardInterrupt:
            raise CommandError("benchmark interrupted; its processes are stopped and its database dropped") from None
        if options["json"]:
            options["json"].write_text(json.dumps(report.as_json(), indent=2) + "\n")
        self.stdout.write(table(report))
        if not all(report.checks.values()):
            raise CommandError(f"the pipeline did not process everything correctly: {report.checks}")


def _config(options: dict[str, Any]) -> BenchConfig:
    quick = options["quick"]
    events = options["events"] or (QUICK_EVENTS if quick else 20_000)
    orders = options["orders"] or (QUICK_ORDERS if quick else 2_000)
    if orders > events:
        raise CommandError(f"--orders ({orders}) cannot exceed --events ({events}): every order needs an event")
    if refusal := bench_database_refusal(options["bench_db"], settings.DATABASES["default"]):
        raise CommandError(refusal)
    if options["broker"] == "real" and (missing := missing_tools()):
        raise CommandError(
            f"--broker real needs {' and '.join(missing)} on PATH (Java 17 runs Kafka; Maven fetches its jars "
            f"once into {CACHE}): {INSTALL}"
        )
    return BenchConfig(
        events=events,
        orders=orders,
        one_at_a_time_events=max(events // 10, min(events, 200)),
        latency_seconds=None if options["skip_latency"] else (QUICK_LATENCY_SECONDS if quick else LATENCY_SECONDS),
        memory_events=events * MEMORY_CHECK_FACTOR if options["memory_check"] else None,
        user_database=dict(settings.DATABASES["default"]),
        bench_database=options["bench_db"],
        seed=options["seed"],
        order_latency_ms=options["order_latency_ms"],
        backlog=options["backlog"],
        broker=options["broker"],
        transport=options["transport"],
    )
