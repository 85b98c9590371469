"""The demo's child processes: manage.py commands, each with its output in a log file of the run folder."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests
from django.conf import settings

from sandbox.demo.errors import DemoError

STOP_TIMEOUT = 15.0  # the consumer finishes its batch and commits: give it its close timeout and some


class Child:
    """`python manage.py <command>` in the current directory and environment, plus `env`."""

    def __init__(self, name: str, command: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *command],
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def check_running(self) -> None:
        if not self.running():
            raise DemoError(
                f"the {self.name} stopped (exit code {self.process.returncode}); the end of {self.log}:\n{self.tail()}"
            )

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.check_running()
            if time.monotonic() > deadline:
                raise DemoError(f"the {self.name} did not get {what} within {timeout:.0f} s; see {self.log}")
            time.sleep(0.2)

    def logged(self, text: str) -> bool:
        return self.log.exists() and text in self.log.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, so that it ends its work properly; SIGKILL if it will not."""
        if self.running():
            self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def child(name: str, command: list[str], log: Path, env: dict[str, str]) -> Iterator[Child]:
    process = Child(name, command, log, env)
    try:
        yield process
    finally:
        process.stop()


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


@contextmanager
def cleanup_uninterrupted() -> Iterator[ExitStack]:
    """An ExitStack whose unwinding a second Ctrl-C (or SIGTERM) cannot cut short: every child gets stopped."""
    stack = ExitStack()
    try:
        yield stack
    finally:
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            stack.close()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
