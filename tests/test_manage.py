"""manage.py on a bad or missing setting: one line on stderr and exit code 2; .env.local for local commands."""

from pathlib import Path

import pytest

from tests.deploy.conftest import base_env, manage


@pytest.fixture
def local_env(tmp_path: Path) -> dict[str, str]:
    """A developer's shell: no setting at all, and a database of the test's own."""
    return {**base_env(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}


def assert_one_line_and_exit_2(result, message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"configuration error: {message}"]


def test_a_malformed_setting_is_one_line_and_exit_code_2(local_env: dict[str, str]) -> None:
    result = manage("check", env={**local_env, "DEBUG": "true", "KAFKA_SESSION_TIMEOUT_MS": "soon"})

    assert_one_line_and_exit_2(
        result,
        "Environment variable KAFKA_SESSION_TIMEOUT_MS='soon' is malformed: invalid literal for int() "
        "with base 10: 'soon'",
    )


@pytest.mark.parametrize("command", ["check", "create_token", "migrate", "help"])
def test_any_command_without_secret_key_is_one_line_and_exit_code_2(local_env: dict[str, str], command: str) -> None:
    result = manage(command, env=local_env)

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("configuration error: SECRET_KEY must be set when DEBUG is off")


def test_the_local_env_file_gives_local_commands_their_settings(local_env: dict[str, str], tmp_path: Path) -> None:
    local_file = tmp_path / "local.env"
    local_file.write_text("# as make demo writes it\nDEBUG=true\n")

    result = manage("check", env={**local_env, "LOCAL_ENV_FILE": str(local_file)})

    assert result.returncode == 0, result.stderr


def test_the_environment_wins_over_the_local_env_file(local_env: dict[str, str], tmp_path: Path) -> None:
    local_file = tmp_path / "local.env"
    local_file.write_text("DEBUG=true\n")

    result = manage("check", env={**local_env, "LOCAL_ENV_FILE": str(local_file), "DEBUG": "false"})

    assert result.returncode == 2
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_a_malformed_line_of_the_local_env_file_stops_start_up(local_env: dict[str, str], tmp_path: Path) -> None:
    local_file = tmp_path / "local.env"
    local_file.write_text("DEBUG=true\nDEBUG true\n")

    result = manage("check", env={**local_env, "LOCAL_ENV_FILE": str(local_file)})

    assert_one_line_and_exit_2(result, f"{local_file}, line 2, is malformed: expected VAR=value or a # comment")


def test_a_local_env_file_named_but_absent_stops_start_up(local_env: dict[str, str], tmp_path: Path) -> None:
    result = manage("check", env={**local_env, "DEBUG": "true", "LOCAL_ENV_FILE": str(tmp_path / "absent.env")})

    assert result.returncode == 2
    assert "LOCAL_ENV_FILE=" in result.stderr
    assert "is no file" in result.stderr


def test_the_settings_option_is_honoured(local_env: dict[str, str]) -> None:
    # The test settings give a key: with them a shell without any setting passes.
    result = manage("check", "--settings", "courier_project.test_settings", env=local_env)

    assert result.returncode == 0, result.stderr


def test_shell_c_prints_only_what_the_command_prints(local_env: dict[str, str]) -> None:
    result = manage("shell", "-c", "print(Courier.__name__)", env={**local_env, "DEBUG": "true"})

    assert result.returncode == 0, result.stderr
    assert result.stdout == "Courier\n"  # the automatic imports still work, silently
