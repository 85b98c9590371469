"""Telling "the database is out" from an error about one request or one piece of data."""

from contextlib import suppress
from typing import TYPE_CHECKING

from django.db import DatabaseError, InterfaceError, OperationalError, connection, connections

if TYPE_CHECKING:
    import psycopg

# What a lost, refused or shut-down connection raises (psycopg and sqlite3 alike, through Django's wrappers);
# also a deadlock or a cancelled statement, which a caller likewise retries later. Integrity and data errors
# are about what was written, not about reaching the database: not in here. Whether the database is really
# out is the probe's to say.
UNREACHABLE = (OperationalError, InterfaceError)


def database_answers() -> bool:
    """Whether a fresh connection answers SELECT 1 (this thread's may be broken). With a pool, the fresh one
    is made beside it: a pool starved by busy threads is not a database down, and waiting on it would say so."""
    with suppress(DatabaseError):  # a broken connection may fail to close; it is dropped all the same
        connection.close()
    if pooled():
        return _answers_outside_pool()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


def pooled() -> bool:
    """Whether connections come from Django's pool (PostgreSQL with DB_POOL_MAX_SIZE)."""
    return bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))


def connection_release() -> None:
    """Give this thread's pooled connection back, outside a transaction (the next query takes one again).
    Without a pool the thread keeps its own (CONN_MAX_AGE): nobody else waits for it."""
    if pooled() and not connection.in_atomic_block:
        with suppress(DatabaseError):  # a broken connection may fail to close; it is dropped all the same
            connection.close()


def _answers_outside_pool() -> bool:
    try:
        with _connect_outside_pool() as raw, raw.cursor() as cursor:
            cursor.execute("SELECT 1")
    except connection.Database.Error:
        return False
    return True


def _connect_outside_pool() -> "psycopg.Connection":
    params = connection.get_connection_params()
    # As long as the pool would have waited (DB_POOL_TIMEOUT), and no longer: a host that drops packets
    # would otherwise hold the probe for the system's TCP timeout.
    pool = connection.settings_dict["OPTIONS"]["pool"]  # True, or psycopg_pool's options
    timeout = pool.get("timeout", 30.0) if isinstance(pool, dict) else 30.0  # 30 s: psycopg_pool's default
    params.setdefault("connect_timeout", max(1, round(timeout)))
    return connection.Database.connect(**params)


def limit_session_waits(*, lock_timeout: float, statement_timeout: float, alias: str = "default") -> None:
    """Every PostgreSQL session this process opens from now on gives up waiting for a row lock after
    `lock_timeout` seconds and ends a statement after `statement_timeout`: an idle transaction holding a
    courier's row, or a statement that never ends, becomes an OperationalError (one order's failed attempt,
    as the database still answers SELECT 1) instead of a consumer that hangs until its watchdog kills it.
    SQLite has neither; its busy timeout bounds its lock waits."""
    settings_dict = connections.settings[alias]  # shared by every thread's connection, pooled or not
    if settings_dict["ENGINE"] != "django.db.backends.postgresql":
        return
    limits = f"-c lock_timeout={round(lock_timeout * 1000)} -c statement_timeout={round(statement_timeout * 1000)}"
    options = settings_dict.setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} {limits}".strip()
    connections[alias].close_pool()  # a pool opened before now holds sessions without the limits
