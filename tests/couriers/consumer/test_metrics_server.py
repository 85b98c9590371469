"""The consumer's metrics port under idle connections: a few threads serve it, and silent clients are dropped."""

import select
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from couriers.consumer.metrics_server import WAITING, start_metrics_server

WORKERS = 2
READ_TIMEOUT = 0.1
IDLE = 100  # far more than the workers and the waiting line together


@pytest.fixture
def metrics_port() -> Iterator[int]:
    server = start_metrics_server(0, address="127.0.0.1", token="", workers=WORKERS, read_timeout=READ_TIMEOUT)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def idle_connection(port: int) -> socket.socket:
    """A connection that sends one request line and nothing more."""
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(b"GET /metrics HTTP/1.1\r\n")
    connection.settimeout(30)  # only a guard: the server drops it long before
    return connection


def dropped(connection: socket.socket) -> bool:
    """Whether the server closed `connection` without an answer (waiting for it to, up to the guard)."""
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.django_db(transaction=True)  # the fleet's gauges are read from the database at scrape time
def test_idle_connections_hold_no_more_threads_than_the_pool_and_are_dropped(metrics_port: int) -> None:
    threads_before = threading.active_count()

    with ExitStack() as stack:
        idle = [stack.enter_context(idle_connection(metrics_port)) for _ in range(IDLE)]
        threads_with_idle = threading.active_count()

        assert all(dropped(connection) for connection in idle)

    assert threads_with_idle <= threads_before
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
        assert answer.status == 200  # the workers are free again


def test_past_the_waiting_line_connections_are_closed_at_once() -> None:
    server = start_metrics_server(0, address="127.0.0.1", token="", workers=WORKERS, read_timeout=60.0)
    port = server.server_address[1]
    try:
        with ExitStack() as stack:
            connections = [stack.enter_context(idle_connection(port)) for _ in range(WORKERS + WAITING + 5)]

            # None is silent for long enough to be dropped for it: the 5 past the line are closed on arrival.
            assert len(closed_among(connections, at_least=5)) >= 5
    finally:
        server.shutdown()
        server.server_close()


def closed_among(connections: list[socket.socket], *, at_least: int) -> list[socket.socket]:
    """The connections closed by the server, waiting until `at_least` are (or 10 s pass)."""
    closed: list[socket.socket] = []
    open_ = list(connections)
    while len(closed) < at_least and (ready := select.select(open_, [], [], 10)[0]):
        for connection in ready:
            open_.remove(connection)
            if dropped(connection):
                closed.append(connection)
    return closed
