"""Live progress of a run: a bar on a terminal, a plain line every few seconds anywhere else (CI, a pipe)."""

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from sandbox.demo.outcomes import brief

PLAIN_EVERY = 5.0  # seconds between two plain lines


@dataclass(frozen=True)
class Snapshot:
    stage: str  # what the run is doing now, in a few words
    orders_total: int
    orders_created: int
    orders_finished: int  # completed, cancelled or deleted at service-order
    produced: int  # events service-order sent, copies and bad ones included
    processed: int  # events the consumer got through (a retried one counts each time)
    rate: float  # events processed per second, lately
    couriers_busy: int
    couriers_total: int
    waiting: int  # orders waiting for a courier
    outcomes: Counter[str] = field(default_factory=Counter)


class Display(Protocol):
    def update(self, snapshot: Snapshot) -> None: ...

    def __enter__(self) -> "Display": ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None: ...


def display_for(console: Console) -> Display:
    return LiveDisplay(console) if console.is_terminal else PlainDisplay(console)


class _ProgressWithFooter(Progress):
    footer: RenderableType = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield self.footer


class LiveDisplay:
    def __init__(self, console: Console) -> None:
        self._progress = _ProgressWithFooter(
            TextColumn("{task.description:<7}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._events = self._progress.add_task("events", total=None, note="")
        self._orders = self._progress.add_task("orders", total=None, note="")

    def update(self, snapshot: Snapshot) -> None:
        s = snapshot
        self._progress.update(
            self._events,
            # A retried event counts twice in `processed`: the bar stops at full.
            completed=min(s.processed, s.produced),
            total=max(s.produced, 1),
            note=f"processed of produced · {s.rate:.0f}/s",
        )
        self._progress.update(
            self._orders,
            completed=s.orders_finished,
            total=s.orders_total,
            note=f"finished · {s.orders_created} created · {s.stage}",
        )
        self._progress.footer = Text.assemble(
            ("outcomes ", "bold"),
            brief(s.outcomes),
            "\n",
            ("fleet    ", "bold"),
            f"{s.couriers_busy} of {s.couriers_total} couriers busy · {s.waiting} orders waiting for one",
        )

    def __enter__(self) -> "LiveDisplay":
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._progress.stop()


class PlainDisplay:
    def __init__(self, console: Console, every: float = PLAIN_EVERY) -> None:
        self._console = console
        self._every = every
        self._started = time.monotonic()
        self._last_line = float("-inf")
        self._last_stage = ""

    def update(self, snapshot: Snapshot) -> None:
        now = time.monotonic()
        if now - self._last_line < self._every and snapshot.stage == self._last_stage:
            return
        self._last_line, self._last_stage = now, snapshot.stage
        s = snapshot
        self._console.print(
            f"[{now - self._started:4.0f}s] {s.stage}: orders {s.orders_created}/{s.orders_total} created, "
            f"{s.orders_finished} finished; events {s.processed}/{s.produced} processed ({s.rate:.0f}/s); "
            f"{brief(s.outcomes)}; {s.couriers_busy}/{s.couriers_total} couriers busy, {s.waiting} waiting",
            highlight=False,
            soft_wrap=True,
        )

    def __enter__(self) -> "PlainDisplay":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        pass
