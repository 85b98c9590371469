"""A demo run from start to end: database, broker and simulator, consumer and web server, orders, report."""

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from django.conf import settings
from rich.console import Console
from rich.markup import escape

from couriers import selectors
from couriers.models import Delivery
from sandbox.demo import database
from sandbox.demo.children import Child, cleanup_uninterrupted
from sandbox.demo.local_env import write_local_env
from sandbox.demo.offsets import CommittedLag
from sandbox.demo.options import DemoOptions
from sandbox.demo.order_fates import queued_orders
from sandbox.demo.ports import HOST, web_port
from sandbox.demo.progress import Display, display_for
from sandbox.demo.report import RunResult, collect, render
from sandbox.demo.run_folder import logging_to, new_run_folder, shown, simulator_logging_to, stderr_to
from sandbox.demo.watch import Watcher
from sandbox.demo.world import SWEEP_EVERY, World, demo_grace, start_world
from sandbox.orders import LIFETIME
from sandbox.stream import StreamReport, check_stream, read_topic, wait_for_outbox_drained

logger = logging.getLogger(__name__)

FREEZE_WHEN_FINISHED = 0.5  # the clock stops once this share of the orders is finished at service-order
TICK = 0.5  # seconds between two looks at the run
SETTLE_TIMEOUT = 60.0
STALL_TIMEOUT = 60.0  # seconds the consumer may make no progress while catching up before we stop waiting
SCRAPE_TIMEOUT = 10.0
DISPUTE_SLACK = 10.0  # seconds past a dispute's grace and two sweeps before we stop waiting for it
OUTBOX_DRAIN_TIMEOUT = 30.0  # the relay publishes within a round or two of the last decision


def run_demo(options: DemoOptions, console: Console) -> int:
    """The whole demo; 0 if every order's delivery matches service-order in the end."""
    folder = new_run_folder()
    with cleanup_uninterrupted() as stack:
        # librdkafka's clients in this process (the simulator's producer) write their notices to stderr.
        stack.enter_context(stderr_to(folder / "demo.log"))
        stack.enter_context(logging_to(folder / "demo.log"))
        stack.enter_context(simulator_logging_to(folder / "simulator.log"))
        return DemoRun(options, console, stack, folder).execute()


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
        world = start_world(self.options, port.port if port else None, self.stack, self.folder, self._say)
        watcher = self._run_orders(world)
        result = self._report(world, watcher)
        if world.web is not None:
            self._serve(world.web, world.web_url, world.bootstrap)
        return 0 if result.ok else 1

    # --- before the orders -----------------------------------------------------

    def _prepare_database(self, port: int | None) -> None:
        database.migrate()
        cleared = database.clear_deliveries()
        self._say("database", f"{database.database_label()}: migrated")
        if cleared.deliveries:
            self._say(
                "",
                f"{cleared.deliveries} deliveries of an earlier demo cleared and {cleared.couriers_freed} couriers "
                "freed: this report is about this run",
            )
        fleet = database.ensure_fleet(self.options.couriers)
        others = fleet.total - fleet.created - fleet.reused
        self._say(
            "couriers",
            f"{fleet.total} in the database: the demo's {self.options.couriers} on foot, by scooter and by car "
            f"({fleet.created} created, {fleet.reused} reused) and {others} more",
        )
        users = database.demo_users()
        for n, user in enumerate(users):
            label = "users" if n == 0 else ""
            reset = " (it existed: its password was reset)" if user.existed and user.password else ""
            password = f"password {user.password}, " if user.password else ""
            self._say(label, f"{user.username} ({user.role}): {password}API token {user.token}{reset}")
        if port is not None:
            reader = users[-1]
            self._say("API", f'curl -H "Authorization: Token {reader.token}" http://{HOST}:{port}/api/v1/couriers/')
        self._say("local env", write_local_env())

    # --- the orders ---------------------------------------------------------------

    def _run_orders(self, world: World) -> Watcher:
        options, simulator = self.options, world.simulator
        self._say(
            "simulator",
            f"service-order at {simulator.url}: {options.orders} orders over {options.spread:g} s, "
            f"each living {LIFETIME * options.time_scale:.0f} s; chaos: duplicates, reordering, delays, "
            "a 2 s outage, cancellations, deletions, edits, unknown orders, malformed events; "
            f"log {shown(self.folder / 'simulator.log')}",
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
            if demo_grace(options.time_scale) != "never":  # else a dispatcher settles them: nothing to wait for
                self._until(display, watcher, world, "disputed ends settling", self._disputes_settled())
            display.update(watcher.snapshot("done"))
        created, finished = watcher.finished()
        stopped = f"The clock stopped after {stopped_after:.0f} s with {finished} of {created} orders finished"
        self.console.print(f"{stopped}; {catch_up.outcome()}.", soft_wrap=True)
        logger.info("%s; %s; service-order: %s", stopped, catch_up.outcome(), simulator.summary())
        return watcher

    def _disputes_settled(self) -> Callable[[], bool]:
        """Done when no delivery is disputed, or once the grace and a sweep have passed."""
        grace = demo_grace(self.options.time_scale)
        deadline = time.monotonic() + float(grace) + 2 * SWEEP_EVERY + DISPUTE_SLACK
        disputed = selectors.delivery_disputed(Delivery.objects.all())
        return lambda: not disputed.exists() or time.monotonic() > deadline

    def _time_to_freeze(self, watcher: Watcher) -> bool:
        created, finished = watcher.finished()
        return created == self.options.orders and finished >= FREEZE_WHEN_FINISHED * created

    def _until(self, display: Display, watcher: Watcher, world: World, stage: str, done: Callable[[], bool]) -> None:
        logger.info("%s; service-order: %s", stage, world.simulator.summary())
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
        queued = queued_orders(world.consumer.log)
        stream = self._stream(world)
        result = collect(
            simulator.truth(),
            simulator.record(),
            simulator.requests(),
            Counter(watcher.outcomes),
            queued,
            stream,
            sweep=Counter(watcher.sweep),
        )
        render(self.console, result)
        logger.info("orders: %s; events by outcome: %s", result.fates, dict(result.outcomes))
        logger.info("check: %s with service-order", result.check.summary())
        logger.info("delivery events by type: %s; stream problems: %s", dict(stream.by_type), stream.problems[:10])
        return result

    def _stream(self, world: World) -> StreamReport:
        """The delivery events, once the relay published every one, read back from the topic and checked."""
        if not wait_for_outbox_drained(OUTBOX_DRAIN_TIMEOUT):
            logger.warning("outbox not drained within %ss", OUTBOX_DRAIN_TIMEOUT)
        return check_stream(read_topic(world.bootstrap, settings.OUTBOX_TOPIC))

    def _serve(self, web: Child, url: str, bootstrap: str) -> None:
        self._say(
            "admin",
            f"{url}/admin/ (user {database.USERNAME}, or {database.DISPATCHER} to see what a dispatcher sees; "
            "passwords above)",
        )
        self._say("API docs", f"{url}/api/docs/")
        watch = f"KAFKA_BOOTSTRAP_SERVERS={bootstrap} .venv/bin/python manage.py watch_deliveries --from-beginning"
        self._say("events", f"{watch} (the delivery events, live)")
        # Started in the background (`make demo &`), it never sees a Ctrl-C: SIGTERM stops it the same way.
        self.console.print(f"Running until Ctrl-C, or SIGTERM (kill {os.getpid()}) when in the background.")
        try:
            while web.running():
                time.sleep(TICK)
            self.console.print(f"The web server stopped; see {shown(web.log)}")
        except KeyboardInterrupt:
            self.console.print("Stopping the web server, the consumer, the simulator and the broker.")
            logger.info("stopping on request")

    def _say(self, label: str, text: str) -> None:
        self.console.print(f"[bold]{label:<11}[/]{escape(text)}", highlight=False, soft_wrap=True)
        logger.info("%s: %s", label or "…", text)


class CatchUp:
    """Done when the consumer committed every event, or when it stopped making progress for too long."""

    def __init__(self, lag: CommittedLag) -> None:
        self.lag = lag
        self.left: int | None = None
        self.changed_at = time.monotonic()

    def __call__(self) -> bool:
        left = self.lag.messages()
        if left is not None and left != self.left:
            self.left, self.changed_at = left, time.monotonic()
        return left == 0 or time.monotonic() - self.changed_at > STALL_TIMEOUT

    def outcome(self) -> str:
        if self.left == 0:
            return "every event processed"
        left = "its committed offsets unknown" if self.left is None else f"{self.left} events not committed"
        return f"the consumer stopped making progress, {left}"
