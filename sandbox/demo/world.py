"""The world a demo run starts: broker, service-order simulator, consume_orders and the web server."""

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

from sandbox.broker import EmbeddedBroker, ensure_topics
from sandbox.chaos import Chaos
from sandbox.demo.children import Child, answers, child
from sandbox.demo.options import DemoOptions
from sandbox.demo.ports import HOST, free_port
from sandbox.demo.run_folder import shown, stderr_to
from sandbox.publisher import MemorySink
from sandbox.simulator import Simulator

START_TIMEOUT = 90.0  # for the consumer's first group join and the web server's start
# Seconds between the consumer's reconcile sweeps (CONSUMER_RECONCILE_EVERY; it sweeps by default, every 30 s):
# at the demo's time scale a disputed end is settled soon after its grace.
SWEEP_EVERY = 1.0
SQLITE_CONCURRENCY = 4  # SQLite lets one writer in at a time: more threads only queue for its lock

Say = Callable[[str, str], None]


@dataclass(frozen=True)
class World:
    bootstrap: str
    simulator: Simulator  # created, not started: its clock starts with the orders
    consumer: Child
    metrics_port: int
    web: Child | None
    web_url: str


def start_world(options: DemoOptions, port: int | None, stack: ExitStack, folder: Path, say: Say) -> World:
    """Everything running and ready, each part registered on `stack` to be stopped, the broker last."""
    bootstrap = _start_broker(stack, folder, say)
    simulator = Simulator(
        bootstrap=bootstrap,
        topic=settings.KAFKA_TOPIC,
        time_scale=options.time_scale,
        chaos=Chaos.standard(),
        seed=options.seed,
    )
    # Registered before it starts: stop() on a simulator that never started only closes its socket.
    stack.callback(_stop_simulator, simulator)
    env = _child_env(bootstrap, simulator.url) | {
        "DISPUTE_GRACE": demo_grace(options.time_scale),
        "CONSUMER_RECONCILE_EVERY": f"{SWEEP_EVERY:g}",
    }
    metrics_port = free_port()
    consumer = _start_consumer(env, metrics_port, stack, folder, say)
    web_url = f"http://{HOST}:{port}"
    web = _start_web(env, port, stack, folder) if port is not None else None
    consumer.wait_for(lambda: consumer.logged("assigned partitions"), "its Kafka partitions", START_TIMEOUT)
    if web is not None:
        web.wait_for(lambda: answers(f"{web_url}/healthz"), "ready", START_TIMEOUT)
        say("admin", f"{web_url}/admin/ (live while the demo runs)")
    return World(bootstrap, simulator, consumer, metrics_port, web, web_url)


def _start_broker(stack: ExitStack, folder: Path, say: Say) -> str:
    with stderr_to(folder / "broker.log"):  # librdkafka's mock announces itself on stderr
        bootstrap = stack.enter_context(EmbeddedBroker(detached=True)).bootstrap_servers
    ensure_topics(bootstrap, settings.KAFKA_TOPIC, settings.KAFKA_DLQ_TOPIC, settings.OUTBOX_TOPIC)
    say("Kafka", f"embedded broker at {bootstrap}, topic {settings.KAFKA_TOPIC}")
    return bootstrap


def _start_consumer(env: dict[str, str], metrics_port: int, stack: ExitStack, folder: Path, say: Say) -> Child:
    command = ["consume_orders", "--metrics-port", str(metrics_port), "--relay"]
    if connection.vendor == "sqlite":
        command += ["--concurrency", str(SQLITE_CONCURRENCY)]
    consumer = stack.enter_context(child("consumer", command, folder / "consumer.log", env))
    say(
        "consumer",
        f"consume_orders --relay (the delivery events too), metrics at http://{HOST}:{metrics_port}/metrics, log {shown(consumer.log)}",
    )
    return consumer


def demo_grace(time_scale: float) -> str:
    """DISPUTE_GRACE at the demo's time scale: service-order's marks shrink with it, so does the grace."""
    return "never" if settings.DISPUTE_GRACE is None else f"{settings.DISPUTE_GRACE * time_scale:g}"


def _start_web(env: dict[str, str], port: int, stack: ExitStack, folder: Path) -> Child:
    command = ["runserver", "--noreload", f"{HOST}:{port}"]
    return stack.enter_context(child("web server", command, folder / "web.log", env))


def _child_env(bootstrap: str, order_service_url: str) -> dict[str, str]:
    return {
        "DEBUG": "true",
        "LOG_FORMAT": "json",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC": settings.KAFKA_TOPIC,
        "KAFKA_DLQ_TOPIC": settings.KAFKA_DLQ_TOPIC,
        "OUTBOX_TOPIC": settings.OUTBOX_TOPIC,
        "KAFKA_GROUP_ID": settings.KAFKA_GROUP_ID,
        "KAFKA_SESSION_TIMEOUT_MS": "6000",  # a quick first join (see kafka-testing.md)
        "ORDER_SERVICE_URL": order_service_url,
        "CONSUMER_BACKOFF_MAX": "2",  # the outage lasts 2 s: do not sleep through the rest of the run
    }


def _stop_simulator(simulator: Simulator) -> None:
    simulator.stop(flush_timeout=2.0)
    # Its Kafka producer goes now, before the broker: an idle producer outliving its broker says so on stderr.
    simulator.sink = simulator.publisher.sink = MemorySink()
