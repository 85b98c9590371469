"""Production settings: `check --deploy` is clean with a production environment; a bad one stops start-up."""

import secrets

import pytest
from django.core.management.utils import get_random_secret_key

from courier_project.env import secret_key_is_weak
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


@pytest.mark.parametrize(
    "key",
    [
        "short",
        "a" * 60,
        "django-insecure-" + "x1y2z3" * 10,
        "password" * 7,
        ("changeme-" * 6)[:50],
        "Tr0ub4dor&3" * 5,
    ],
)
def test_start_up_stops_with_a_weak_secret_key_when_debug_is_off(prod_env: dict[str, str], key: str) -> None:
    # What the deploy check calls weak (security.W009): too short, too few distinct characters, Django's prefix.
    prod_env["SECRET_KEY"] = key

    result = manage("check", env=prod_env)

    assert result.returncode != 0
    assert "SECRET_KEY is too weak for DEBUG off" in last_line(result.stderr)


def test_a_weak_secret_key_is_accepted_for_local_work(prod_env: dict[str, str]) -> None:
    prod_env.update(SECRET_KEY="short", DEBUG="true")

    assert manage("check", env=prod_env).returncode == 0


def installed_apps(env: dict[str, str]) -> list[str]:
    code = "from django.conf import settings; print(*settings.INSTALLED_APPS)"
    result = manage("shell", "--verbosity", "0", "--command", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_production_settings_install_no_sandbox(prod_env: dict[str, str]) -> None:
    apps = installed_apps(prod_env)

    assert "couriers" in apps
    assert "sandbox" not in apps


@pytest.mark.parametrize("variable", ["DEBUG", "SANDBOX_ENABLED"])
def test_the_sandbox_is_installed_for_local_work_or_when_asked_for(prod_env: dict[str, str], variable: str) -> None:
    prod_env[variable] = "true"

    assert "sandbox" in installed_apps(prod_env)


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
        ("DISPUTE_GRACE", "later"),
        ("DISPUTE_GRACE", "-5"),
        ("DISPUTE_GRACE", "inf"),
        ("METRICS_ALLOWED_NETWORKS", "10.0.0.0/33"),
        ("API_DOCS_REQUIRE_AUTH", "sometimes"),
        ("SANDBOX_ENABLED", "perhaps"),
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


@pytest.mark.parametrize("key", [get_random_secret_key(), secrets.token_urlsafe(50), secrets.token_hex(32)])
def test_random_keys_of_the_usual_generators_pass(key: str) -> None:
    assert not secret_key_is_weak(key)


def test_without_a_key_local_work_gets_a_random_one_not_a_constant(prod_env: dict[str, str]) -> None:
    del prod_env["SECRET_KEY"]
    prod_env["DEBUG"] = "true"
    code = "from django.conf import settings; print(settings.SECRET_KEY)"

    keys = {manage("shell", "--verbosity", "0", "--command", code, env=prod_env).stdout.strip() for _ in range(2)}

    assert len(keys) == 2
    assert not any(secret_key_is_weak(key) for key in keys)


def test_secret_key_fallbacks_check_what_the_old_key_signed(prod_env: dict[str, str]) -> None:
    old, new = secrets.token_urlsafe(50), secrets.token_urlsafe(50)
    sign = "from django.core import signing; print(signing.dumps('session'))"
    check = "import sys; from django.core import signing; print(signing.loads(sys.argv[-1]))"
    signed = manage("shell", "--verbosity", "0", "--command", sign, env=prod_env | {"SECRET_KEY": old}).stdout.strip()

    rotated = prod_env | {"SECRET_KEY": new, "SECRET_KEY_FALLBACKS": old}
    code = check.replace("sys.argv[-1]", repr(signed))
    accepted = manage("shell", "--verbosity", "0", "--command", code, env=rotated)
    refused = manage("shell", "--verbosity", "0", "--command", code, env=prod_env | {"SECRET_KEY": new})

    assert accepted.stdout.strip() == "session", accepted.stderr
    assert "BadSignature" in refused.stderr


def test_tls_to_a_managed_postgresql_and_redis_reaches_the_connections(prod_env: dict[str, str]) -> None:
    prod_env.update(
        DATABASE_URL="postgres://courier_app@db.example:5432/courier?sslmode=verify-full&sslrootcert=/run/ca.pem",
        CACHE_URL="rediss://:s3cret@redis.example:6380/0",
    )
    code = (
        "from django.conf import settings; o = settings.DATABASES['default']['OPTIONS']; "
        "print(o['sslmode'], o['sslrootcert'], 'statement_timeout' in o['options'], 'pool' in o); "
        "print(settings.CACHES['default']['LOCATION'])"
    )

    result = manage("shell", "--verbosity", "0", "--command", code, env=prod_env)

    assert result.stdout.splitlines() == ["verify-full /run/ca.pem True True", "rediss://:s3cret@redis.example:6380/0"]
