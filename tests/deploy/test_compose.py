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
# into the default STATIC_ROOT; the app services run the runtime image, which has no sandbox to enable.
NOT_IN_COMPOSE = {"STATIC_ROOT", "SANDBOX_ENABLED"}
SECRETS = (
    "SECRET_KEY",
    "POSTGRES_PASSWORD",
    "POSTGRES_OWNER_PASSWORD",
    "POSTGRES_APP_PASSWORD",
    "KAFKA_ADMIN_PASSWORD",
    "KAFKA_COURIER_PASSWORD",
    "KAFKA_SIMULATOR_PASSWORD",
    "METRICS_TOKEN",
)


def docker_compose(
    *args: str, env: dict[str, str], tmp_path: Path, env_file: str = ""
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose", path=env["PATH"])
    assert binary is not None, "docker-compose left PATH"
    given_env_file = tmp_path / "given.env"  # a developer's own .env must not decide the outcome
    given_env_file.write_text(env_file)
    return subprocess.run(
        [
            binary,
            "--project-directory",
            str(REPO),
            "--file",
            str(COMPOSE_FILE),
            "--env-file",
            str(given_env_file),
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def compose_env(tmp_path: Path) -> dict[str, str]:
    return base_env(tmp_path) | {secret: f"test-only-{secret.lower()}" for secret in SECRETS}


@system_tools.DOCKER_COMPOSE
@pytest.mark.parametrize("profiles", [[], ["--profile", "sandbox", "--profile", "ops"]])
def test_docker_compose_config_is_valid(tmp_path: Path, profiles: list[str]) -> None:
    result = docker_compose(*profiles, "config", "-q", env=compose_env(tmp_path), tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr


@system_tools.DOCKER_COMPOSE
@pytest.mark.parametrize("required", SECRETS)
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
    assert environment["PGPASSWORD"].startswith("${POSTGRES_APP_PASSWORD:?")
    assert compose["services"]["migrate"]["environment"]["PGPASSWORD"].startswith("${POSTGRES_OWNER_PASSWORD:?")
    for secret in ("POSTGRES_PASSWORD", "POSTGRES_OWNER_PASSWORD", "POSTGRES_APP_PASSWORD"):
        assert compose["services"]["postgres"]["environment"][secret].startswith(f"${{{secret}:?")


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
    assert kafka["KAFKA_ADVERTISED_LISTENERS"].startswith("CLIENT://kafka:9092")
    assert services["web"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "${KAFKA_BOOTSTRAP_SERVERS:-kafka:9092}"
    script = services["kafka-init"]["command"][0]
    assert "--if-not-exists" in script
    init = services["kafka-init"]["environment"]
    assert (init["TOPIC"], init["DLQ_TOPIC"], init["OUTBOX_TOPIC"]) == (
        "${KAFKA_TOPIC:-order.status.changed}",
        "${KAFKA_DLQ_TOPIC:-order.status.changed.dlq}",
        "${OUTBOX_TOPIC:-courier.delivery.changed}",
    )
    assert 'for topic in "$$TOPIC" "$$DLQ_TOPIC" "$$OUTBOX_TOPIC"' in script


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if "build" in service:
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


def resolved(tmp_path: Path, env_file: str = "") -> dict[str, Any]:
    """The compose file as Compose reads it, every profile on, with `env_file` as the project's .env."""
    profiles = ["--profile", "sandbox", "--profile", "ops"]
    result = docker_compose(*profiles, "config", env=compose_env(tmp_path), tmp_path=tmp_path, env_file=env_file)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@system_tools.DOCKER_COMPOSE
def test_database_and_kafka_default_to_the_compose_services(tmp_path: Path) -> None:
    services = resolved(tmp_path)["services"]

    for name in ("web", "consumer", "reconcile"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"] == "postgres://courier_app@postgres:5432/courier"
        assert environment["PGPASSWORD"] == "test-only-postgres_app_password"
        assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert services["migrate"]["environment"]["DATABASE_URL"] == "postgres://courier_owner@postgres:5432/courier"
    assert services["migrate"]["environment"]["PGPASSWORD"] == "test-only-postgres_owner_password"


@system_tools.DOCKER_COMPOSE
def test_the_project_env_file_reaches_the_containers(tmp_path: Path) -> None:
    env_file = (
        "DATABASE_URL=postgres://app:pw@db.example.com:5432/courier\n"
        "MIGRATE_DATABASE_URL=postgres://owner:pw@db.example.com:5432/courier\n"
        "KAFKA_BOOTSTRAP_SERVERS=kafka-1.example.com:9093,kafka-2.example.com:9093\n"
        "GUNICORN_CMD_ARGS=--backlog 64\n"
    )

    services = resolved(tmp_path, env_file)["services"]

    for name in ("web", "consumer", "reconcile"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"] == "postgres://app:pw@db.example.com:5432/courier"
        assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-1.example.com:9093,kafka-2.example.com:9093"
    assert services["migrate"]["environment"]["DATABASE_URL"] == "postgres://owner:pw@db.example.com:5432/courier"
    assert services["web"]["environment"]["GUNICORN_CMD_ARGS"] == "--backlog 64"


def env_example_defaults() -> dict[str, str]:
    text = (REPO / ".env.example").read_text()
    return dict(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=(\S*)$", text, re.MULTILINE))


def test_compose_defaults_are_those_env_example_shows(compose: dict[str, Any]) -> None:
    # .env.example is the template of compose's .env: the default it shows is the one compose applies.
    documented = env_example_defaults()
    defaults = {
        name: match.group(1)
        for name, value in compose["services"]["web"]["environment"].items()
        if isinstance(value, str) and (match := re.fullmatch(rf"\$\{{{name}:-([^}}]*)\}}", value))
    }

    assert {"LOG_FORMAT", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"} <= set(defaults)
    assert {name: documented.get(name) for name in defaults} == defaults


def test_postgres_and_kafka_get_time_for_a_clean_shutdown(compose: dict[str, Any]) -> None:
    for name in ("postgres", "kafka"):
        grace = compose["services"][name]["stop_grace_period"]
        assert int(grace.removesuffix("s")) >= 30, name


def test_postgres_takes_the_connections_of_the_documented_consumers(compose: dict[str, Any]) -> None:
    # Each consumer: one connection per worker thread, its main thread, the sweep and a metrics scrape.
    consumers = 6  # one per partition: KAFKA_TOPIC_PARTITIONS' default, the most that do work
    per_consumer = 16 + 3  # CONSUMER_CONCURRENCY's default
    web = 2 * 4  # WEB_CONCURRENCY x GUNICORN_THREADS, gunicorn.conf.py's defaults
    one_shots, superuser_reserve = 2, 3
    command = compose["services"]["postgres"]["command"]
    (setting,) = [argument for argument in command if argument.startswith("max_connections=")]

    assert compose["services"]["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"] == "${KAFKA_TOPIC_PARTITIONS:-6}"
    assert int(setting.split("=")[1]) >= consumers * per_consumer + web + one_shots + superuser_reserve


def test_migrations_run_as_the_owner_role_and_the_rest_as_the_data_role(compose: dict[str, Any]) -> None:
    services = compose["services"]
    init = services["postgres"]["volumes"]

    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in init
    assert "courier_owner@" in services["migrate"]["environment"]["DATABASE_URL"]
    assert services["migrate"]["environment"]["DB_STATEMENT_TIMEOUT"] == "0"  # a long migration is no runaway
    for name in ("web", "consumer", "reconcile"):
        assert "courier_app@" in services[name]["environment"]["DATABASE_URL"]
    assert services["postgres"]["environment"]["POSTGRES_USER"] == "postgres"


def test_the_simulator_runs_from_the_sandbox_target_and_the_app_from_runtime(compose: dict[str, Any]) -> None:
    services = compose["services"]

    assert services["order-simulator"]["build"]["target"] == "sandbox"
    assert services["order-simulator"]["environment"]["SANDBOX_ENABLED"] == "true"
    assert services["order-simulator"]["image"] != services["web"]["image"]
    for name in APP_SERVICES:
        assert services[name]["build"]["target"] == "runtime", name


def test_consumer_metrics_listen_inside_the_network_only(compose: dict[str, Any]) -> None:
    consumer = compose["services"]["consumer"]

    assert consumer["environment"]["CONSUMER_METRICS_ADDRESS"] == "0.0.0.0"
    assert "ports" not in consumer


ALL_SERVICES = ("postgres", "kafka", "kafka-init", *APP_SERVICES, "order-simulator")
# The one exception, said in the file: Kafka's start script writes its configuration into the image.
WRITABLE_ROOT = {"kafka"}


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_service_is_hardened(compose: dict[str, Any], service: str) -> None:
    config = compose["services"][service]

    assert config["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in config["security_opt"]
    assert re.fullmatch(r"\d+[mg]", config["mem_limit"])
    assert 0 < config["pids_limit"] <= 1024
    if service not in WRITABLE_ROOT:
        assert config["read_only"] is True
        assert "/tmp" in config["tmpfs"]


def test_only_postgres_gets_capabilities_back_and_only_those_its_entrypoint_needs(compose: dict[str, Any]) -> None:
    granted = {name: config.get("cap_add") for name, config in compose["services"].items() if config.get("cap_add")}

    assert granted == {"postgres": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]}


def test_kafka_takes_sasl_only_and_refuses_what_no_acl_allows(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]["environment"]
    protocols = dict(pair.split(":") for pair in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = [listener.split("://")[0] for listener in kafka["KAFKA_LISTENERS"].split(",")]

    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    assert set(listeners) == set(protocols)
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert kafka["KAFKA_SUPER_USERS"] == "User:admin"
    for listener in listeners:
        jaas = kafka[f"KAFKA_LISTENER_NAME_{listener}_PLAIN_SASL_JAAS_CONFIG"]
        assert 'user_admin="${KAFKA_ADMIN_PASSWORD}"' in jaas
    assert "user_courier" not in kafka["KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG"]
    healthcheck = " ".join(compose["services"]["kafka"]["healthcheck"]["test"])
    assert "--command-config" in healthcheck
    assert '"$$BROKER_ADMIN_PASSWORD"' in healthcheck
    assert 'password="%s"' in healthcheck


def test_the_consumer_may_read_its_topic_and_write_the_dlq_and_its_events_nothing_more(compose: dict[str, Any]) -> None:
    script = compose["services"]["kafka-init"]["command"][0]
    assert 'password="%s"' in script
    assert '"$$BROKER_ADMIN_PASSWORD" > /tmp/admin.properties' in script
    grants = re.findall(r"--allow-principal User:(\w+) (.*)", script)

    assert sorted(grants) == [
        ("courier", '--operation Read --group "$$GROUP"'),
        ("courier", '--operation Read --operation Describe --topic "$$TOPIC"'),
        ("courier", '--operation Write --operation Describe --topic "$$DLQ_TOPIC"'),
        ("courier", '--operation Write --operation Describe --topic "$$OUTBOX_TOPIC"'),
        ("simulator", '--operation Write --operation Describe --topic "$$TOPIC"'),
    ]
    environment = compose["services"]["consumer"]["environment"]
    assert (environment["KAFKA_SECURITY_PROTOCOL"], environment["KAFKA_SASL_USERNAME"]) == ("sasl_plaintext", "courier")
    assert environment["KAFKA_SASL_PASSWORD"].startswith("${KAFKA_COURIER_PASSWORD:?")


def test_the_metrics_need_the_token(compose: dict[str, Any]) -> None:
    for name in ("web", "consumer"):
        assert compose["services"][name]["environment"]["METRICS_TOKEN"].startswith("${METRICS_TOKEN:?"), name
