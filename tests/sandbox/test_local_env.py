"""The .env.local the demo leaves for the commands run afterwards: written once, owner-only, never over a file."""

import stat
from pathlib import Path

import pytest

from sandbox.demo.local_env import write_local_env


def test_the_demo_writes_debug_a_key_and_its_database_for_the_commands_after_it(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.LOCAL_ENV_FILE = tmp_path / ".env.local"
    monkeypatch.setenv("DATABASE_URL", "sqlite:///demo.sqlite3")

    note = write_local_env()

    lines = settings.LOCAL_ENV_FILE.read_text().splitlines()
    assert "DEBUG=true" in lines
    assert "DATABASE_URL=sqlite:///demo.sqlite3" in lines
    (key,) = [line.removeprefix("SECRET_KEY=") for line in lines if line.startswith("SECRET_KEY=")]
    assert len(key) >= 50
    assert stat.S_IMODE(settings.LOCAL_ENV_FILE.stat().st_mode) == 0o600
    assert "written" in note


def test_an_existing_file_is_kept_as_it_is(settings, tmp_path: Path) -> None:
    settings.LOCAL_ENV_FILE = tmp_path / ".env.local"
    settings.LOCAL_ENV_FILE.write_text("DEBUG=false\n")

    note = write_local_env()

    assert settings.LOCAL_ENV_FILE.read_text() == "DEBUG=false\n"
    assert "kept as it is" in note


def test_no_file_when_local_env_file_is_empty(settings, tmp_path: Path) -> None:
    settings.LOCAL_ENV_FILE = None

    assert "no local settings file written" in write_local_env()
    assert not list(tmp_path.iterdir())
