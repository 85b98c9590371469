"""Finding TCP ports on 127.0.0.1 for the web server and the consumer's metrics."""

import socket
from dataclasses import dataclass

from sandbox.demo.errors import DemoError
from sandbox.demo.options import DEFAULT_PORT

HOST = "127.0.0.1"
NEARBY = 100  # ports after the default tried before asking the system for any free one


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the web server binds: connections of a server just stopped, still in TIME_WAIT, do not hold the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nobody listens on now. Another program could take it before we do: rare enough here."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class WebPort:
    port: int
    note: str  # why it is not the one asked for, or ""


def web_port(requested: int | None) -> WebPort:
    """The asked port if free (an error if not); without one, DEFAULT_PORT or the next free one."""
    if requested is not None:
        if not port_is_free(requested):
            raise DemoError(
                f"port {requested} on {HOST} is in use (an earlier demo still running?): "
                f"stop that program or choose another port, e.g. make demo ARGS='--port {requested + 1}'"
            )
        return WebPort(requested, "")
    if port_is_free(DEFAULT_PORT):
        return WebPort(DEFAULT_PORT, "")
    port = next((p for p in range(DEFAULT_PORT + 1, DEFAULT_PORT + NEARBY) if port_is_free(p)), None) or free_port()
    return WebPort(port, f"port {DEFAULT_PORT} is in use: serving on {port} instead (choose one with --port)")
