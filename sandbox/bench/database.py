"""The bench's own database, beside the user's: created, migrated, handed to the consumers, dropped.

The user's database is never written: PostgreSQL gets `<name>_bench` (recreated through a maintenance
connection), SQLite a temporary file.
"""

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from django.core.management import call_command
from django.db import connections
from psycopg import sql

ALIAS = "bench"
MAINTENANCE_DATABASE = "postgres"
# Never dropped, whatever --bench-db says: the server's own databases.
SERVER_DATABASES = frozenset({MAINTENANCE_DATABASE, "template0", "template1"})


def bench_database_refusal(name: str, user_settings: dict[str, Any]) -> str | None:
    """Why the bench must not recreate and drop database `name`, or None when it may."""
    if not name or user_settings["ENGINE"].endswith("sqlite3"):
        return None  # the default `<name>_bench`, or SQLite's temporary file
    if name == user_settings["NAME"]:
        return f"--bench-db {name} is the database of DATABASE_URL: the bench drops its database, choose another name"
    if name in SERVER_DATABASES:
        return f"--bench-db {name} is one of PostgreSQL's own databases: choose another name"
    return None


@dataclass
class BenchDatabase:
    """`with BenchDatabase(settings.DATABASES["default"]) as db:` db.url for processes, ALIAS in this one."""

    user_settings: dict[str, Any]
    name: str = ""  # PostgreSQL: the database to recreate; default `<name>_bench`
    url: str = ""
    _directory: Path | None = field(default=None, repr=False)

    @property
    def vendor(self) -> str:
        return "sqlite" if self._is_sqlite else "postgresql"

    @property
    def _is_sqlite(self) -> bool:
        return self.user_settings["ENGINE"].endswith("sqlite3")

    def __enter__(self) -> "BenchDatabase":
        config = self._create_sqlite() if self._is_sqlite else self._create_postgresql()
        connections.settings[ALIAS] = connections.configure_settings({"default": config})["default"]
        try:
            call_command("migrate", database=ALIAS, interactive=False, verbosity=0)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        connections[ALIAS].close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        else:
            self._maintenance("DROP DATABASE IF EXISTS {} WITH (FORCE)")

    def _create_sqlite(self) -> dict[str, Any]:
        self._directory = Path(tempfile.mkdtemp(prefix="courier-bench-"))
        path = self._directory / "bench.sqlite3"
        self.url = f"sqlite:///{path}"
        # What settings.py gives SQLite: writers queue at BEGIN instead of deadlocking.
        return {**self.user_settings, "NAME": str(path), "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30}}

    def _create_postgresql(self) -> dict[str, Any]:
        self.name = self.name or f"{self.user_settings['NAME']}_bench"
        self._maintenance("DROP DATABASE IF EXISTS {} WITH (FORCE)")  # left by a run that was killed
        self._maintenance("CREATE DATABASE {}")
        db = self.user_settings
        credentials = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
        self.url = f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{self.name}"
        return {**db, "NAME": self.name}

    def maintenance_connection(self) -> psycopg.Connection:
        """PostgreSQL: an autocommit connection to the server's maintenance database, beside the bench's."""
        db = self.user_settings
        return psycopg.connect(
            dbname=MAINTENANCE_DATABASE,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            autocommit=True,
        )

    def _maintenance(self, statement: str) -> None:
        with self.maintenance_connection() as maintenance:
            maintenance.execute(sql.SQL(statement).format(sql.Identifier(self.name)))
