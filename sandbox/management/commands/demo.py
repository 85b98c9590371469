"""python manage.py demo: the pipeline on this machine, with chaos, a live progress bar and a final check."""

import argparse
import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console

from couriers.management.arguments import positive_float, positive_int
from sandbox.demo.errors import DemoError
from sandbox.demo.options import DEFAULT_PORT, DemoOptions
from sandbox.demo.run import run_demo
from sandbox.orders import LIFETIME

INTERRUPTED = 130  # the shell's code for a program ended by Ctrl-C

defaults = DemoOptions()


def port_number(value: str) -> int:
    port = positive_int(value)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (1 to 65535)")
    return port


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the demo as Ctrl-C does: every child process stopped


class Command(BaseCommand):
    help = (
        "Run service-courier end to end on this machine: an embedded Kafka broker, a service-order simulator "
        "with chaos, consume_orders and the web server; report the outcomes and check every order. "
        "The orders come in over --spread seconds and each lives 15 minutes times --time-scale "
        f"({LIFETIME * defaults.time_scale:.0f} s by default); the clock stops once half of them are finished, "
        "so a run lasts about --spread plus one order's life, whatever --orders (more orders: more load, "
        "a longer queue). Then the admin is served until Ctrl-C or SIGTERM, unless --no-serve."
    )
    requires_migrations_checks = False  # the demo migrates the database itself

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--orders",
            type=positive_int,
            default=defaults.orders,
            help="orders created over --spread: the load, not the duration (default %(default)s)",
        )
        parser.add_argument(
            "--couriers", type=positive_int, default=defaults.couriers, help="couriers (default %(default)s)"
        )
        parser.add_argument(
            "--port", type=port_number, help=f"web server port (default {DEFAULT_PORT}, or a free one if taken)"
        )
        parser.add_argument("--seed", type=int, help="seed of the simulator's choices, to repeat a run's orders")
        parser.add_argument(
            "--spread",
            type=positive_float,
            default=defaults.spread,
            metavar="SECONDS",
            help="create the orders over this long; with --time-scale, what sets the run's duration "
            "(default %(default)s)",
        )
        parser.add_argument(
            "--time-scale",
            type=positive_float,
            default=defaults.time_scale,
            help="service-order's timers times this: 0.05 makes an order's 15 minutes last "
            f"{LIFETIME * 0.05:.0f} s, and the run about that much longer than --spread (default %(default)s)",
        )
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="end after the report instead of serving the admin until Ctrl-C or SIGTERM",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("the demo wipes the deliveries of its database: run it with DEBUG=true (make demo)")
        demo = DemoOptions(
            orders=options["orders"],
            couriers=options["couriers"],
            spread=options["spread"],
            time_scale=options["time_scale"],
            seed=options["seed"],
            port=options["port"],
            serve=not options["no_serve"],
        )
        signal.signal(signal.SIGTERM, _interrupt)
        console = Console()
        try:
            code = run_demo(demo, console)
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            console.print("Interrupted: every process of the demo is stopped.")
            code = INTERRUPTED
        if code:
            raise SystemExit(code)
