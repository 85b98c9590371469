"""The embedded broker, out of reach of the terminal's Ctrl-C."""

import subprocess
import sys

from sandbox.broker import EmbeddedBroker


class DetachedBroker(EmbeddedBroker):
    """EmbeddedBroker in a session of its own.

    Ctrl-C at a terminal signals its whole process group. The consumer, the web server and the demo
    stop on it; the broker must outlive them, or the consumer's last commit and the simulator's last
    events find no broker (and librdkafka says so on the terminal). It still ends with the demo:
    the holder exits when its stdin, our pipe, closes.
    """

    def start(self) -> "DetachedBroker":
        command = [sys.executable, "-m", "sandbox.broker", "--brokers", str(self.num_brokers)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        try:
            self._bootstrap = self._read_address(self._process)
        except BaseException:
            self.stop()
            raise
        return self
