"""Telling "the database is out" from an error about one request or one piece of data."""

from contextlib import suppress

from django.db import DatabaseError, InterfaceError, OperationalError, connection

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
