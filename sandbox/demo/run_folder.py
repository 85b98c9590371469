"""Where a run's output goes: a folder per run with the log of every process, off the terminal."""

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from django.conf import settings


def new_run_folder() -> Path:
    folder = Path(settings.BASE_DIR) / "artifacts" / "demo" / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder.mkdir(parents=True)
    return folder


def shown(path: Path) -> str:
    """The path relative to the current directory when it is below it: shorter to read and to paste."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@contextmanager
def logging_to(log: Path) -> Iterator[None]:
    """This process's log records to `log`: the terminal belongs to the progress display and the report."""
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved
        handler.close()


# service-order's stand-in runs inside the demo's process: its records go to a log of their own.
SIMULATOR_LOGGERS = ("sandbox.simulator", "sandbox.http_server", "sandbox.publisher")


@contextmanager
def simulator_logging_to(log: Path) -> Iterator[None]:
    """The simulator's records, its every order change and request included (debug), to `log` and nowhere else."""
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    loggers = [logging.getLogger(name) for name in SIMULATOR_LOGGERS]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)
        handler.close()


@contextmanager
def stderr_to(log: Path) -> Iterator[None]:
    """Standard error of processes started inside the block goes to `log` (they inherit file descriptor 2)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with log.open("ab") as output:
        os.dup2(output.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
