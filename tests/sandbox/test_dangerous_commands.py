"""The sandbox's commands that delete data refuse where they could hurt, and say why (run as a user runs them)."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.deploy.conftest import last_line

# Never reached: every refusal comes before the first connection.
POSTGRES_URL = "postgres://courier:secret@127.0.0.1:1/courier"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "courier_project.settings", "SANDBOX_ENABLED": "true"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["demo", "bench"])
def test_refuses_without_debug(command: str) -> None:
    result = manage(command, DEBUG="false", DATABASE_URL=POSTGRES_URL)

    assert result.returncode != 0
    assert "run it with DEBUG=true" in last_line(result.stderr)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("courier", "is the database of DATABASE_URL"),
        ("postgres", "PostgreSQL's own"),
        ("template1", "PostgreSQL's own"),
    ],
)
def test_bench_refuses_to_drop_a_database_it_does_not_own(name: str, why: str) -> None:
    result = manage("bench", "--bench-db", name, DEBUG="true", DATABASE_URL=POSTGRES_URL)

    assert result.returncode != 0
    assert why in last_line(result.stderr)
