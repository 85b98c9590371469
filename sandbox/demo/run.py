"""A demo run from start to end: database, broker and simulator, consumer and web server, orders, report."""

import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from rich.console import Console
from rich.markup import escape

from sandbox.broker import ensure_topics
from sandbox.chaos import Chaos
from sandbox.demo import database
from sandbox.demo.broker import DetachedBroker
from sandbox.demo.children import Child, answers, child, cleanup_uninterrupted
from sandbox.demo.offsets import CommittedLag
from sandbox.demo.options import DemoOptions
from sandbox.demo.ports import HOST, free_port, web_port
from sandbox.demo.progress import Display, display_for
from sandbox.demo.report import RunResult, collect, render
from sandbox.demo.run_folder import logging_to, new_run_folder, shown, stderr_to
from sandbox.demo.watch import Watcher
from sandbox.orders import LIFETIME
from sandbox.publisher import MemorySink
from sandbox.simulator import Simulator

FREEZE_WHEN_FINISHED = 0.5  # the clock stops once this share of the orders is finished at service-order
TICK = 0.5  # seconds between two looks at the run
START_TIMEOUT = 90.0  # for the consumer's first group join and the web server's start
SETTLE_TIMEOUT = 60.0
STALL_TIMEOUT = 60.0  # seconds the consumer may make no progress while catching up before we stop waiting
SCRAPE_TIMEOUT = 10.0
SQLITE_CONCURRENCY = 4  # SQLite lets one writer in at a time: more threads only queue for its lock


def run_demo(options: DemoOptions, console: Console) -> int:
    """The whole demo; 0 if every order's delivery matches service-order in the end."""
    folder = new_run_folder()
    with cleanup_uninterrupted() as stack:
        # librdkafka in this process writes to stderr, and loudly when the broker goes first at Ctrl-C.
        stack.enter_context(stderr_to(folder / "demo.log"))
        stack.enter_context(logging_to(folder / "demo.log"))
        return DemoRun(options, console, stack, folder).execute()


@dataclass(frozen=True)
class World:
    bootstrap: str
    simulator: Simulator
    consumer: Child
    metrics_port: int
    web: Child | None
    web_url: str


class DemoRun:
    def __init__(self, options: DemoOptions, console: Console, stack: ExitStack, folder: Path) -> None:
        self.options = options
        self.console = console
        self.stack = stack
        self.folder = folder

    def execute(self) -> int:
        port = web_port(self.options.port) if self.options.serve else None
        if port and port.note:
            self._say("web", port.note)
        self._say("run folder", f"{shown(self.folder)} (logs of every process)")
        self._prepare_database(port.port if port else None)
        world = self._start_world(port.port if port else None)
        watcher = self._run_orders(world)
        result = self._report(world, watcher)
        if world.web is not None:
            self._serve(world)
        return 0 if result.ok else 1

    # --- before the orders -----------------------------------------------------

    def _prepare_database(self, port: int | None) -> None:
        database.migrate()
        cleared = database.clear_deliveries()
        self._say("database", f"{database.database_label()}: migrated")
        if cleared.deliveries:
            self._say("", f"{cleared.deliveries} deliveries of an earlier demo cleared: this report is about this run")
        fleet = database.ensure_fleet(self.options.couriers)
        self._say(
            "couriers",
            f"{self.options.couriers} on foot, by scooter and by car: {fleet.created} created, {fleet.reused} reused",
        )
        user = database.demo_user()
        reset = " (the user existed: its password was reset)" if user.existed else ""
        self._say("admin user", f"{user.username} / password {user.password}{reset}")
        base = f"http://{HOST}:{port or 8000}"
        self._say("API token", f'curl -H "Authorization: Token {user.token}" {base}/api/v1/couriers/')

    def _start_world(self, port: int | None) -> World:
        bootstrap = self._start_broker()
        simulator = Simulator(
            bootstrap=bootstrap,
            topic=settings.KAFKA_TOPIC,
            time_scale=self.options.time_scale,
            chaos=Chaos.standard(),
            seed=self.options.seed,
        )
        # Registered before it starts: stop() on a simulator that never started only closes its socket.
        self.stack.callback(_stop_simulator, simulator)
        env = self._child_env(bootstrap, simulator.url)
        metrics_port = free_port()
        consumer = self._start_consumer(env, metrics_port)
        web_url = f"http://{HOST}:{port}"
        web = self._start_web(env, port) if port is not None else None
        consumer.wait_for(lambda: consumer.logged("assigned partitions"), "its Kafka partitions", START_TIMEOUT)
        if web is not None:
            web.wait_for(lambda: answers(f"{web_url}/healthz"), "ready", START_TIMEOUT)
            self._say("admin", f"{web_url}/admin/ (live while the demo runs)")
        return World(bootstrap, simulator, consumer, metrics_port, web, web_url)

    def _start_broker(self) -> str:
        with stderr_to(self.folder / "broker.log"):  # librdkafka's mock announces itself on stderr
            bootstrap = self.stack.enter_context(DetachedBroker()).bootstrap_servers
        ensure_topics(bootstrap, settings.KAFKA_TOPIC, settings.KAFKA_DLQ_TOPIC)
        self._say("Kafka", f"embedded broker at {bootstrap}, topic {settings.KAFKA_TOPIC}")
        return bootstrap

    def _start_consumer(self, env: dict[str, str], metrics_port: int) -> Child:
        command = ["consume_orders", "--metrics-port", str(metrics_port)]
        if connection.vendor == "sqlite":
            command += ["--concurrency", str(SQLITE_CONCURRENCY)]
        consumer = self.stack.enter_context(child("consumer", command, self.folder / "consumer.log", env))
        self._say(
            "consumer", f"consume_orders, metrics at http://{HOST}:{metrics_port}/metrics, log {shown(consumer.log)}"
        )
        return consumer

    def _start_web(self, env: dict[str, str], port: int) -> Child:
        command = ["runserver", "--noreload", f"{HOST}:{port}"]
        return self.stack.enter_context(child("web server", command, self.folder / "web.log", env))

    def _child_env(self, bootstrap: str, order_service_url: str) -> dict[str, str]:
        return {
            "DEBUG": "true",
            "LOG_FORMAT": "json",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC": settings.KAFKA_TOPIC,
            "KAFKA_DLQ_TOPIC": settings.KAFKA_DLQ_TOPIC,
            "KAFKA_GROUP_ID": settings.KAFKA_GROUP_ID,
            "KAFKA_SESSION_TIMEOUT_MS": "6000",  # a quick first join (see kafka-testing.md)
            "ORDER_SERVICE_URL": order_service_url,
            "CONSUMER_BACKOFF_MAX": "2",  # the outage lasts 2 s: do not sleep through the rest of the run
        }

    # --- the orders ---------------------------------------------------------------

    def _run_orders(self, world: World) -> Watcher:
        options, simulator = self.options, world.simulator
        self._say(
            "simulator",
            f"service-order at {simulator.url}: {options.orders} orders over {options.spread:g} s, "
            f"each living {LIFETIME * options.time_scale:.0f} s; chaos: duplicates, reordering, delays, "
            "a 2 s outage, cancellations, deletions, edits, unknown orders, malformed events",
        )
        watcher = Watcher(simulator, world.metrics_port, options.orders)
        started = time.monotonic()
        simulator.start()
        simulator.create_orders(options.orders, over=options.spread)
        with display_for(self.console) as display:
            self._until(display, watcher, world, "orders coming in", lambda: self._time_to_freeze(watcher))
            simulator.freeze()
            stopped_after = time.monotonic() - started
            display.update(watcher.snapshot("clock stopped: last events going out"))
            simulator.wait_until_settled(SETTLE_TIMEOUT)
            with CommittedLag(world.bootstrap, settings.KAFKA_TOPIC, settings.KAFKA_GROUP_ID) as lag:
                catch_up = CatchUp(lag)
                self._until(display, watcher, world, "clock stopped: consumer catching up", catch_up)
            display.update(watcher.snapshot("done"))
        created, finished = watcher.finished()
        left = f"the consumer still had {catch_up.left} events to go" if catch_up.left else "every event processed"
        self.console.print(
            f"The clock stopped after {stopped_after:.0f} s with {finished} of {created} orders finished; {left}.",
            soft_wrap=True,
        )
        return watcher

    def _time_to_freeze(self, watcher: Watcher) -> bool:
        created, finished = watcher.finished()
        return created == self.options.orders and finished >= FREEZE_WHEN_FINISHED * created

    def _until(self, display: Display, watcher: Watcher, world: World, stage: str, done: Callable[[], bool]) -> None:
        while True:
            display.update(watcher.snapshot(stage))
            world.consumer.check_running()
            if world.web is not None:
                world.web.check_running()
            if done():
                return
            time.sleep(TICK)

    # --- after the orders ------------------------------------------------------------

    def _report(self, world: World, watcher: Watcher) -> RunResult:
        deadline = time.monotonic() + SCRAPE_TIMEOUT
        while not watcher.scrape() and time.monotonic() < deadline:
            time.sleep(TICK)
        simulator = world.simulator
        result = collect(simulator.truth(), simulator.record(), simulator.requests(), Counter(watcher.outcomes))
        render(self.console, result)
        return result

    def _serve(self, world: World) -> None:
        assert world.web is not None
        self._say("admin", f"{world.web_url}/admin/ (user demo, password above)")
        self._say("API docs", f"{world.web_url}/api/docs/")
        self.console.print("Running until Ctrl-C.")
        try:
            while world.web.running():
                time.sleep(TICK)
            self.console.print(f"The web server stopped; see {shown(world.web.log)}")
        except KeyboardInterrupt:
            self.console.print("Stopping the web server, the consumer, the simulator and the broker.")

    def _say(self, label: str, text: str) -> None:
        self.console.print(f"[bold]{label:<11}[/]{escape(text)}", highlight=False, soft_wrap=True)


def _stop_simulator(simulator: Simulator) -> None:
    simulator.stop(flush_timeout=2.0)
    # Its Kafka producer goes now, before the broker: an idle producer outliving its broker reports so on stderr.
    simulator.sink = simulator.publisher.sink = MemorySink()


class CatchUp:
    """Done when the consumer committed every event, or when it stopped making progress for too long."""

    def __init__(self, lag: CommittedLag) -> None:
        self.lag = lag
        self.left = -1
        self.changed_at = time.monotonic()

    def __call__(self) -> bool:
        left = self.lag.messages()
        if left != self.left:
            self.left, self.changed_at = left, time.monotonic()
        return left == 0 or time.monotonic() - self.changed_at > STALL_TIMEOUT
