"""Production settings: `check --deploy` is clean with a production environment; a bad one stops start-up."""

import pytest

from tests.deploy.conftest import last_line, manage


def test_check_deploy_passes_with_a_production_environment(prod_env: dict[str, str]) -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=prod_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("unset", "warning"),
    [
        ("SECURE_SSL_REDIRECT", "security.W008"),
        ("SECURE_HSTS_SECONDS", "security.W004"),
    ],
)
def test_check_deploy_fails_without_a_security_setting(prod_env: dict[str, str], unset: str, warning: str) -> None:
    del prod_env[unset]

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=prod_env)

    assert result.returncode != 0
    assert warning in result.stderr


def test_check_deploy_fails_with_a_weak_secret_key(prod_env: dict[str, str]) -> None:
    prod_env["SECRET_KEY"] = "short"

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=prod_env)

    assert result.returncode != 0
    assert "security.W009" in result.stderr


def test_start_up_stops_without_secret_key_when_debug_is_off(prod_env: dict[str, str]) -> None:
    del prod_env["SECRET_KEY"]

    result = manage("check", env=prod_env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in last_line(result.stderr)


def test_debug_is_off_unless_set(prod_env: dict[str, str]) -> None:
    del prod_env["DEBUG"]
    del prod_env["SECRET_KEY"]

    result = manage("check", env=prod_env)

    assert "SECRET_KEY must be set when DEBUG is off" in last_line(result.stderr)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DB_CONN_MAX_AGE", "abc"),
        ("KAFKA_SESSION_TIMEOUT_MS", "-1"),
        ("SECURE_HSTS_SECONDS", "a year"),
        ("SECURE_SSL_REDIRECT", "yes please"),
        ("CSRF_TRUSTED_ORIGINS", "courier.example.com"),
        ("DATABASE_URL", "postgres//courier@db/courier"),
        ("LOG_FORMAT", "xml"),
        ("ORDER_SERVICE_URL", "order-service:8080"),
        ("ORDER_SERVICE_RETRIES", "three"),
        ("DELIVERY_MINUTES_CAR", "0"),
        ("CONSUMER_STALL_SECONDS", "0"),
        ("RECONCILE_TIME_LIMIT", "soon"),
    ],
)
def test_start_up_stops_naming_a_malformed_variable(prod_env: dict[str, str], variable: str, value: str) -> None:
    prod_env[variable] = value
    if variable == "DB_CONN_MAX_AGE":
        # Read for PostgreSQL only; `check` without --database never connects.
        prod_env["DATABASE_URL"] = "postgres://courier:secret@127.0.0.1:1/courier"

    result = manage("check", env=prod_env)

    assert result.returncode != 0
    message = last_line(result.stderr)
    assert variable in message
    assert "malformed" in message
