"""Ends a consumer whose loop stopped turning, so that its orchestrator starts a fresh one.

Docker restarts a container when it exits, not when its health check fails; a loop stuck in a
handler (a lock never granted, a call that never returns) would otherwise hold its partitions'
events forever. Exiting is safe: offsets are stored only after the work, so whatever was in hand is
delivered again to the next consumer (at-least-once, and every decision is idempotent).
"""

import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable

logger = logging.getLogger(__name__)

STALLED_EXIT_CODE = 70  # EX_SOFTWARE: tells a stall from a crash (1) in `docker ps` and the restart log


class Watchdog:
    def __init__(
        self,
        *,
        stall_seconds: float,
        exit: Callable[[int], object] = os._exit,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stall_seconds = stall_seconds
        self.exit = exit  # os._exit: a clean exit would wait for the stuck thread, forever
        self.clock = clock
        self.last_beat = clock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def beat(self) -> None:
        """Called by the consume loop once per turn."""
        self.last_beat = self.clock()

    def start(self) -> None:
        self.beat()
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()

    def _run(self) -> None:
        # Checking four times per stall period: the exit comes at most a quarter period late.
        while not self.stopping.wait(self.stall_seconds / 4):
            self.check()

    def check(self) -> None:
        """Exit the process if the loop has not turned for `stall_seconds`."""
        silent = self.clock() - self.last_beat
        if silent < self.stall_seconds:
            return
        logger.critical(
            "the consume loop has not turned for %.0fs (CONSUMER_STALL_SECONDS=%s): exiting with %s so that a fresh "
            "consumer takes over; events in hand were not committed and will be processed again. Threads:\n%s",
            silent,
            self.stall_seconds,
            STALLED_EXIT_CODE,
            _thread_stacks(),
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        self.exit(STALLED_EXIT_CODE)


def _thread_stacks() -> str:
    """Where every thread is: the stuck call is in one of them."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    me = threading.get_ident()
    return "\n".join(
        f"--- {names.get(ident, ident)}\n{''.join(traceback.format_stack(frame)).rstrip()}"
        for ident, frame in sys._current_frames().items()
        if ident != me
    )
