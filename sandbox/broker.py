"""An embedded Kafka broker for tests and demos: librdkafka's mock cluster in a holder process.

The mock cluster lives as long as the client handle that started it. It gets a process of its
own because, sharing a process with an HTTP server, it was seen taking that server's sockets.
"""

import argparse
import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from types import FrameType, TracebackType

from confluent_kafka import Producer

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


def start_mock_cluster(num_brokers: int) -> tuple[Producer, str]:
    """A running mock cluster (alive while the returned handle is) and its bootstrap servers."""
    handle = Producer({"test.mock.num.brokers": num_brokers})
    brokers = handle.list_topics(timeout=10).brokers.values()
    return handle, ",".join(f"{broker.host}:{broker.port}" for broker in brokers)


def hold(num_brokers: int) -> None:
    """Run a mock cluster, print its address, and keep it until a signal or the parent goes away."""
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # A signal meant for the whole process group (Ctrl-C, a job's kill) ends it too: leave a word.
        print(f"embedded broker: stopping on {signal.Signals(signum).name}", file=sys.stderr, flush=True)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _handle, bootstrap = start_mock_cluster(num_brokers)
    print(bootstrap, flush=True)
    # Only a pipe means "a parent holds the other end": a shell's background job gets
    # /dev/null as stdin, and its immediate end of file must not stop the broker.
    if stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
        threading.Thread(target=_set_at_end_of_input, args=(done,), daemon=True).start()
    # A timed wait, so that the signal handler gets to run in the main thread.
    while not done.wait(0.5):
        pass


def _set_at_end_of_input(done: threading.Event) -> None:
    # The raw descriptor: a daemon thread blocked in sys.stdin's buffered read holds its lock, and Python's
    # shutdown then aborts the process (SIGABRT) when a signal, not the end of input, stopped it.
    while os.read(sys.stdin.fileno(), 4096):
        pass
    print("embedded broker: stopping, its parent closed stdin", file=sys.stderr, flush=True)
    done.set()


class EmbeddedBroker:
    """A mock Kafka cluster in a child process: `with EmbeddedBroker() as broker: broker.bootstrap_servers`."""

    def __init__(
        self,
        num_brokers: int = 1,
        start_timeout: float = START_TIMEOUT,
        *,
        detached: bool = False,
        log: Path | None = None,
    ) -> None:
        self.num_brokers = num_brokers
        self.start_timeout = start_timeout
        # Detached: in a session of its own, out of reach of the terminal's Ctrl-C, so that it outlives the
        # processes that need it for a last commit; it still ends with us, when its stdin pipe closes.
        self.detached = detached
        # The holder's stderr, appended to; else ours, which pytest swaps per test: its last words got lost there.
        self.log = log
        self._log_from = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._bootstrap = ""

    @property
    def bootstrap_servers(self) -> str:
        if not self._bootstrap:
            raise RuntimeError("the embedded broker is not running: call start() first")
        return self._bootstrap

    @property
    def pid(self) -> int:
        """The holder process: a test may freeze it (SIGSTOP) to make the broker hang rather than vanish."""
        if self._process is None:
            raise RuntimeError("the embedded broker is not running: call start() first")
        return self._process.pid

    def start(self) -> "EmbeddedBroker":
        command = [sys.executable, "-m", "sandbox.broker", "--brokers", str(self.num_brokers)]
        # stdin stays an open pipe: the holder exits when it closes, that is when we die.
        with self.log.open("ab") if self.log else nullcontext() as stderr:
            self._log_from = stderr.tell() if stderr else 0  # this holder's output, not an earlier one's
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, start_new_session=self.detached
            )
        try:
            self._bootstrap = self._read_address(self._process)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_address(self, process: subprocess.Popen[bytes]) -> str:
        assert process.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        readable: list[object] = []
        while not readable and process.poll() is None and time.monotonic() < deadline:
            readable, _, _ = select.select([process.stdout], [], [], 0.1)
        line = process.stdout.readline().decode().strip() if readable else ""
        if not line:
            raise RuntimeError(
                f"the embedded Kafka broker did not report its address within {self.start_timeout:.0f} s "
                f"(exit code {process.poll()}); see its output in {self.log or 'stderr'}"
            )
        return line

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        process, self._process, self._bootstrap = self._process, None, ""
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
        if process.stdout is not None:
            process.stdout.close()

    def kill(self) -> None:
        """Kill the holder outright, as a crash would; stop() still cleans up."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def death(self) -> str | None:
        """None while the holder runs; else how it ended: its exit code (or signal) and its last output."""
        if self._process is None or (code := self._process.poll()) is None:
            return None
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        last = self._last_output()
        return f"the embedded Kafka broker at {self._bootstrap} (pid {self._process.pid}) died: {how}; " + (
            f"its last output:\n{last}" if last else "no output"
        )

    def restart_if_dead(self) -> str | None:
        """Start a new holder (another address) if this one died; what death() said about the old one."""
        if (death := self.death()) is not None:
            self.stop()
            self.start()
        return death

    def _last_output(self, lines: int = 10) -> str:
        if self.log is None or not self.log.exists():
            return ""
        with self.log.open("rb") as log:
            log.seek(self._log_from)
            return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])

    def create_topics(self, *names: str) -> None:
        ensure_topics(self.bootstrap_servers, *names)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def ensure_topics(bootstrap: str, *topics: str, timeout: float = 10.0) -> None:
    """Make the topics exist. The mock creates a topic (4 partitions) on a metadata request for it."""
    client = Producer({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    missing = set(topics)
    while missing:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"topics not created on {bootstrap} within {timeout} s: {sorted(missing)}")
        for topic in sorted(missing):
            client.list_topics(topic, timeout=max(remaining, 0.1))
        existing = client.list_topics(timeout=max(remaining, 0.1)).topics
        missing = {topic for topic in missing if topic not in existing or existing[topic].error is not None}
        if missing:
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run librdkafka's mock Kafka cluster and print its address.")
    parser.add_argument("--brokers", type=int, default=1, help="number of brokers (default 1)")
    hold(parser.parse_args(argv).brokers)


if __name__ == "__main__":
    main()
