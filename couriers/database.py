"""Telling "the database is out" from an error about one request or one piece of data."""

from contextlib import suppress

from django.db import DatabaseError, InterfaceError, OperationalError, connection, connections

# What a lost, refused or shut-down connection raises (psycopg and sqlite3 alike, through Django's wrappers);
# also a deadlock or a cancelled statement, which a caller likewise retries later. Integrity and data errors
# are about what was written, not about reaching the database: not in here. Whether the database is really
# out is the probe's to say.
UNREACHABLE = (OperationalError, InterfaceError)


def database_answers() -> bool:
    """Whether a fresh connection of this thread answers SELECT 1 (the old one may be broken)."""
    with suppress(DatabaseError):  # a broken connection may fail to close; it is dropped all the same
        connection.close()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


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
