"""Peers that stall below any read timeout: a port that never answers, and a relay that trickles a service's words."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


@contextmanager
def unanswered_url(scheme: str = "http") -> Iterator[str]:
    """A URL whose connections are accepted (by the kernel, into the backlog) and never hear a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"{scheme}://127.0.0.1:{listener.getsockname()[1]}"


@contextmanager
def trickling_relay(upstream: str, pause: float) -> Iterator[str]:
    """A URL relaying to `upstream` (scheme://host:port): what the client sends goes through at once, what comes
    back one byte every `pause` seconds, from the first (a TLS handshake included)."""
    scheme, _, address = upstream.partition("://")
    host, _, port = address.partition(":")
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=_relay_each, args=(listener, (host, int(port)), pause), daemon=True).start()
    try:
        yield f"{scheme}://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def _relay_each(listener: socket.socket, upstream: tuple[str, int], pause: float) -> None:
    with suppress(OSError):  # the listener closed
        while True:
            client, _ = listener.accept()
            server = socket.create_connection(upstream)
            threading.Thread(target=_pump, args=(client, server, 0.0), daemon=True).start()
            threading.Thread(target=_pump, args=(server, client, pause), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket, pause: float) -> None:
    """Copy until either side closes, `pause` seconds before each byte; then close both."""
    with suppress(OSError), source, target:
        while data := source.recv(65536 if not pause else 1):
            time.sleep(pause)
            target.sendall(data)
