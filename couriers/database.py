"""Telling "the database is out" from an error about one request or one piece of data."""

from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection

# What a lost, refused or shut-down connection raises (psycopg and sqlite3 alike, through Django's wrappers);
# also a deadlock or a cancelled statement, which a caller likewise retries later. Integrity and data errors
# are about what was written, not about reaching the database: not in here.
UNREACHABLE = (OperationalError, InterfaceError)


def database_answers() -> bool:
    """One round trip on this thread's connection, reopened if the last error left it unusable."""
    if not connection.in_atomic_block:
        close_old_connections()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True
