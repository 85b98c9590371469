"""A database outage for tests: from now on every connection this process opens, on any thread, fails.

Real failures, not a patched cursor: PostgreSQL is asked on a port where nothing listens (connection
refused), SQLite to open a file in a directory that does not exist. Needs a test that may close its
connection (django_db(transaction=True)).
"""

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database_down() -> Iterator[None]:
    connection = connections["default"]
    settings_dict = connection.settings_dict  # shared by the connections every thread opens
    if connection.vendor == "sqlite":
        unreachable = {"NAME": "/nonexistent-directory/courier.sqlite3"}
    else:
        unreachable = {"HOST": "127.0.0.1", "PORT": str(closed_port())}
    saved = {key: settings_dict[key] for key in unreachable}
    _close_all(connection)
    settings_dict.update(unreachable)
    try:
        yield
    finally:
        _close_all(connection)
        settings_dict.update(saved)


def _close_all(connection) -> None:
    """Every connection closed, the pool's too (DB_POOL_MAX_SIZE): the next one is opened with the settings then."""
    connections.close_all()
    if hasattr(connection, "close_pool"):
        connection.close_pool()
