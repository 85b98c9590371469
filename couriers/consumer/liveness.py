"""The liveness file: touched at most once a second while the loop turns, for an exec probe."""

import time
from collections.abc import Callable
from pathlib import Path


class Liveness:
    def __init__(self, path: str, *, every: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path) if path else None
        self.every = every
        self.clock = clock
        self.last = float("-inf")

    def beat(self) -> None:
        now = self.clock()
        if self.path is not None and now - self.last >= self.every:
            self.path.touch()
            self.last = now
