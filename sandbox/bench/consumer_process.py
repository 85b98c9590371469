"""`manage.py consume_orders` as a process of its own: started, followed through its JSON log, measured, stopped."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings

from sandbox.bench.errors import BenchError

STALL_TIMEOUT = 60.0  # seconds without a new event before the bench gives up on a consumer
STOP_TIMEOUT = 30.0
PROGRESS_EVERY = 5.0


@dataclass
class EventLog:
    """What a consumer's JSON log says: when it got its partitions, when each event's work was committed."""

    assigned_at: float | None = None
    committed_at: dict[tuple[int, int], float] = field(default_factory=dict)  # (partition, offset) -> time

    def read_line(self, line: str) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            return  # not ours: a traceback line, a warning from a library
        if not isinstance(record, dict) or "time" not in record:
            return
        moment = datetime.fromisoformat(record["time"]).timestamp()
        if "event_statuses" in record:
            # Logged after the order's transaction committed; a redelivered event keeps its first time.
            for partition, offset in record["events"]:
                self.committed_at.setdefault((partition, offset), moment)
        elif self.assigned_at is None and str(record.get("message", "")).startswith("assigned partitions"):
            self.assigned_at = moment

    @property
    def last_commit(self) -> float:
        return max(self.committed_at.values())


@dataclass(frozen=True)
class Usage:
    peak_rss_mb: float
    cpu_seconds: float  # user + system, the whole life of the process
    working_cpu_seconds: float  # user + system from the partition assignment to the stop: start-up left out


class ConsumerProcess:
    """One consumer; `env` is the whole environment (database, Kafka, service-order, LOG_FORMAT=json)."""

    def __init__(
        self, env: dict[str, str], log_path: Path, args: Sequence[str] = (), program: Sequence[str] = ("manage.py",)
    ) -> None:
        self.log_path = log_path
        self.log = EventLog()
        self.usage: Usage | None = None
        self._peak_mb = 0.0  # unknown for a process that was killed
        self._cpu_at_assignment = 0.0
        self._working_cpu = 0.0
        self._log_file = log_path.open("wb")
        self._reader = log_path.open("r", errors="replace")
        self._pending = ""
        self.process = subprocess.Popen(
            [sys.executable, *program, "consume_orders", *args],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_for_assignment(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        self._read_new()
        while self.log.assigned_at is None:
            self._check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"consumer got no partitions within {timeout:.0f} s: {self.tail()}")
            time.sleep(0.1)
            self._read_new()
        self._cpu_at_assignment = self._cpu_seconds()

    def follow(self, events: int, progress: Callable[[str], None]) -> None:
        """Until `events` distinct events are committed."""
        last_count, last_change, last_report = 0, time.monotonic(), time.monotonic()
        while (count := len(self.log.committed_at)) < events:
            self._check_alive()
            now = time.monotonic()
            if count != last_count:
                last_count, last_change = count, now
            elif now - last_change > STALL_TIMEOUT:
                raise BenchError(f"consumer stalled at {count} of {events} events: {self.tail()}")
            if now - last_report >= PROGRESS_EVERY:
                progress(f"  {count} of {events} events committed")
                last_report = now
            time.sleep(0.25)
            self._read_new()

    def resident_mb(self) -> float:
        """VmRSS: the memory the process holds now."""
        return self._memory_mb("VmRSS")

    def _cpu_seconds(self) -> float:
        """User + system CPU so far, from /proc (fields 14 and 15 of stat, after the command's parenthesis)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _memory_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        raise BenchError(f"no {field} for process {self.process.pid}")

    def stop(self) -> Usage:
        """SIGTERM (the consumer finishes its batch and commits), then reap it with its resource usage."""
        if self.usage is None:
            self._check_alive()
            # VmHWM, the peak since exec; ru_maxrss of a forked child also counts the parent's pages before exec.
            self._peak_mb = self._memory_mb("VmHWM")
            self._working_cpu = self._cpu_seconds() - self._cpu_at_assignment
            self.process.send_signal(signal.SIGTERM)
            self._reap(STOP_TIMEOUT)
        self._read_new()
        self._reader.close()
        self._log_file.close()
        assert self.usage is not None
        return self.usage

    def kill(self) -> None:
        """Cleanup after a failure: make sure the process is gone."""
        if self.usage is None and self.process.returncode is None:
            self.process.kill()
            self._reap(STOP_TIMEOUT)

    def tail(self, characters: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:]

    def _read_new(self) -> None:
        lines = (self._pending + self._reader.read()).split("\n")
        self._pending = lines.pop()  # an unfinished line waits for its end
        for line in lines:
            self.log.read_line(line)

    def _check_alive(self) -> None:
        if self._reap(0) is not None:
            raise BenchError(f"consumer exited with {self.process.returncode}: {self.tail()}")

    def _reap(self, timeout: float) -> int | None:
        """The exit code once the process ended, else None. os.wait4, for the CPU time Popen does not give."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status, rusage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self.process.returncode = os.waitstatus_to_exitcode(status)
                self.usage = Usage(self._peak_mb, rusage.ru_utime + rusage.ru_stime, self._working_cpu)
                return self.process.returncode
            if time.monotonic() >= deadline:
                if timeout:
                    raise BenchError(f"consumer did not stop within {timeout:.0f} s: {self.tail()}")
                return None
            time.sleep(0.05)
