"""docker-compose.yml: valid for Compose, complete (every setting the app reads), started in the right order."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import load_command_class

from tests import system_tools
from tests.deploy.conftest import REPO, base_env

COMPOSE_FILE = REPO / "docker-compose.yml"
APP_SERVICES = ("migrate", "web", "consumer", "reconcile")
# Read by the settings but deliberately not set by compose: the image collected its static files at build time
# into the default STATIC_ROOT.
NOT_IN_COMPOSE = {"STATIC_ROOT"}


def docker_compose(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose", path=env["PATH"])
    assert binary is not None, "docker-compose left PATH"
    empty_env_file = tmp_path / "empty.env"  # a developer's own .env must not decide the outcome
    empty_env_file.write_text("")
    return subprocess.run(
        [
            binary,
            "--project-directory",
            str(REPO),
            "--file",
            str(COMPOSE_FILE),
            "--env-file",
            str(empty_env_file),
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def compose_env(tmp_path: Path) -> dict[str, str]:
    return base_env(tmp_path) | {"SECRET_KEY": "test-only-not-a-secret", "POSTGRES_PASSWORD": "test-only"}


@system_tools.DOCKER_COMPOSE
@pytest.mark.parametrize("profiles", [[], ["--profile", "sandbox", "--profile", "ops"]])
def test_docker_compose_config_is_valid(tmp_path: Path, profiles: list[str]) -> None:
    result = docker_compose(*profiles, "config", "-q", env=compose_env(tmp_path), tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr


@system_tools.DOCKER_COMPOSE
@pytest.mark.parametrize("required", ["SECRET_KEY", "POSTGRES_PASSWORD"])
def test_docker_compose_refuses_to_start_without_a_secret(tmp_path: Path, required: str) -> None:
    env = compose_env(tmp_path)
    del env[required]

    result = docker_compose("config", "-q", env=env, tmp_path=tmp_path)

    assert result.returncode != 0
    assert f"set {required}" in result.stderr


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def settings_variables() -> set[str]:
    source = (REPO / "courier_project" / "settings.py").read_text()
    return set(re.findall(r"""\benv\.\w+\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))


def gunicorn_variables() -> set[str]:
    source = (REPO / "gunicorn.conf.py").read_text()
    return set(re.findall(r"""\benv\.\w+\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))


def test_settings_variables_are_found() -> None:
    # Guards the regex below: if it stopped matching, the completeness test would pass on nothing.
    assert {"SECRET_KEY", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SECURE_HSTS_SECONDS"} <= settings_variables()


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_setting_is_in_the_environment_of_each_app_service(compose: dict[str, Any], service: str) -> None:
    environment = compose["services"][service]["environment"]

    missing = settings_variables() - NOT_IN_COMPOSE - set(environment)

    assert not missing, (
        f"courier_project/settings.py reads {sorted(missing)}, which docker-compose.yml does not pass to "
        f"'{service}': add them to the x-app-env anchor (without a value to pass them through from .env)"
    )


def test_every_gunicorn_variable_is_in_the_web_environment(compose: dict[str, Any]) -> None:
    missing = gunicorn_variables() - set(compose["services"]["web"]["environment"])

    assert not missing, f"gunicorn.conf.py reads {sorted(missing)}: add them to the web service's environment"


def test_no_secret_is_written_in_the_file(compose: dict[str, Any]) -> None:
    environment = compose["services"]["web"]["environment"]

    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_read_no_local_env_file(compose: dict[str, Any], service: str) -> None:
    assert compose["services"][service]["environment"]["LOCAL_ENV_FILE"] == ""


def test_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def needs(service: str) -> dict[str, str]:
        return {name: spec["condition"] for name, spec in services[service]["depends_on"].items()}

    assert needs("kafka-init") == {"kafka": "service_healthy"}
    assert needs("migrate") == {"postgres": "service_healthy"}
    assert needs("web")["migrate"] == "service_completed_successfully"
    assert needs("consumer") == {
        "postgres": "service_healthy",
        "kafka": "service_healthy",
        "kafka-init": "service_completed_successfully",
        "migrate": "service_completed_successfully",
    }
    assert needs("order-simulator") == {"kafka-init": "service_completed_successfully"}
    for service in ("postgres", "kafka", "web", "consumer"):
        assert services[service]["healthcheck"]["test"], service


def test_kafka_creates_no_topic_by_itself(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka = services["kafka"]["environment"]

    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert kafka["KAFKA_ADVERTISED_LISTENERS"].startswith("PLAINTEXT://kafka:9092")
    assert services["web"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    script = services["kafka-init"]["command"][0]
    assert "--if-not-exists" in script
    assert services["kafka-init"]["environment"]["TOPICS"].split() == [
        "${KAFKA_TOPIC:-order.status.changed}",
        "${KAFKA_DLQ_TOPIC:-order.status.changed.dlq}",
    ]


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if image.startswith("${COURIER_IMAGE"):
            continue  # built from the Dockerfile
        assert re.fullmatch(r"[\w./-]+:\d+(\.\d+)+(-[\w.]+)?", image), f"{name}: {image} is not pinned to a version"


def test_consumer_runs_two_replicas_and_shuts_down_gracefully(compose: dict[str, Any]) -> None:
    consumer = compose["services"]["consumer"]

    assert consumer["deploy"]["replicas"] == 2
    assert "container_name" not in consumer  # a fixed name would forbid a second replica
    assert consumer["stop_grace_period"] == "90s"


@pytest.mark.parametrize("service", ["consumer", "migrate", "reconcile"])
def test_the_commands_of_the_app_services_exist_with_these_options(compose: dict[str, Any], service: str) -> None:
    python, manage_py, name, *arguments = compose["services"][service]["command"]
    assert (python, manage_py) == ("python", "manage.py")
    arguments = [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", argument) for argument in arguments]  # compose defaults

    command = load_command_class("couriers" if name != "migrate" else "django.core", name)
    command.create_parser("manage.py", name).parse_args(arguments)  # exits (SystemExit) on an unknown option


@pytest.mark.parametrize(("age", "healthy"), [(None, False), (0, True), (299, True), (301, False)])
def test_consumer_health_check_reads_the_liveness_file(
    compose: dict[str, Any], tmp_path: Path, age: float | None, healthy: bool
) -> None:
    consumer = compose["services"]["consumer"]
    liveness = consumer["environment"]["CONSUMER_LIVENESS_FILE"]
    kind, python, flag, code = consumer["healthcheck"]["test"]
    assert (kind, python, flag, liveness) == ("CMD", "python", "-c", "/tmp/consumer-alive")
    here = tmp_path / "consumer-alive"
    if age is not None:
        here.touch()
        then = time.time() - age
        os.utime(here, (then, then))

    result = subprocess.run(
        [sys.executable, "-c", code.replace(liveness, str(here))], env=base_env(tmp_path), capture_output=True
    )

    assert (result.returncode == 0) is healthy, result.stderr
