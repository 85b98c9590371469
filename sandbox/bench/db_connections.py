"""The most PostgreSQL connections a consumer held at once, sampled from pg_stat_activity while it runs.

The consumer's connections are told from the bench's own by their application_name, which the bench
puts in the consumer's DATABASE_URL.
"""

import threading
from types import TracebackType

from sandbox.bench.database import BenchDatabase

CONSUMER_APPLICATION = "courier-bench-consumer"
SAMPLE_EVERY = 0.05  # seconds: a connection held for one order's transaction lasts milliseconds


class PeakConnections:
    """`with PeakConnections(db) as peak: ...`, then `peak.value`: None on SQLite, which has no connections."""

    def __init__(self, database: BenchDatabase) -> None:
        self.database = database
        self.value: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-db-connections", daemon=True)

    def __enter__(self) -> "PeakConnections":
        if self.database.vendor == "postgresql":
            self.value = 0
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _sample(self) -> None:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
        with self.database.maintenance_connection() as connection:
            while not self._stop.wait(SAMPLE_EVERY):
                (count,) = connection.execute(query, (self.database.name, CONSUMER_APPLICATION)).fetchone()
                self.value = max(self.value or 0, count)


def consumer_database_url(database: BenchDatabase) -> str:
    """The bench database's URL as the consumer gets it: on PostgreSQL, its connections named."""
    if database.vendor != "postgresql":
        return database.url
    return f"{database.url}?application_name={CONSUMER_APPLICATION}"
