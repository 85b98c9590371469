"""The Dockerfile and .dockerignore, read as text (no Docker engine here): the rules the image must keep."""

import json
import re

import pytest

from tests.deploy.conftest import REPO


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, arguments))
    return result


def runtime() -> list[tuple[str, str]]:
    return stages()[-1]


def test_base_image_is_a_pinned_slim_python_311() -> None:
    args = dict(
        arguments.split("=", 1) for keyword, arguments in instructions() if keyword == "ARG" and "=" in arguments
    )

    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", args["PYTHON_IMAGE"])
    assert [arguments for keyword, arguments in instructions() if keyword == "FROM"] == [
        "${PYTHON_IMAGE} AS build",
        "${PYTHON_IMAGE} AS runtime",
    ]


def test_the_runtime_stage_installs_the_built_wheels_only_and_no_compiler() -> None:
    runs = " ".join(arguments for keyword, arguments in runtime() if keyword == "RUN")

    assert "pip install --no-index --find-links=/wheels" in runs
    assert "from=build" in runs
    for compiler in ("build-essential", "gcc", "g++", "-dev "):
        assert compiler not in runs


def test_runs_as_a_non_root_user() -> None:
    users = [arguments for keyword, arguments in runtime() if keyword == "USER"]

    assert users
    assert users[-1].split(":")[0] not in ("root", "0")


@pytest.mark.parametrize("keyword", ["ENTRYPOINT", "CMD"])
def test_entrypoint_and_cmd_are_exec_form_without_a_shell(keyword: str) -> None:
    (arguments,) = [arguments for k, arguments in runtime() if k == keyword]

    command = json.loads(arguments)
    assert command[0] not in ("sh", "/bin/sh", "bash", "/bin/bash")


def test_web_is_the_default_command_under_tini() -> None:
    found = {keyword: json.loads(arguments) for keyword, arguments in runtime() if keyword in ("ENTRYPOINT", "CMD")}

    assert found["ENTRYPOINT"] == ["/usr/bin/tini", "--"]
    assert found["CMD"][:3] == ["gunicorn", "--config", "/app/gunicorn.conf.py"]


def test_environment_has_unbuffered_output_and_no_secret() -> None:
    env = " ".join(arguments for keyword, arguments in runtime() if keyword == "ENV")

    assert "PYTHONUNBUFFERED=1" in env
    assert "SECRET_KEY" not in env
    assert all("SECRET_KEY" not in arguments for keyword, arguments in instructions() if keyword in ("ENV", "ARG"))


def test_the_image_reads_no_local_env_file() -> None:
    env = " ".join(arguments for keyword, arguments in runtime() if keyword == "ENV")

    assert re.search(r"(^|\s)LOCAL_ENV_FILE=(\s|$)", env)


def test_static_files_are_collected_at_build_time_with_a_throwaway_key() -> None:
    (collect,) = [arguments for keyword, arguments in runtime() if keyword == "RUN" and "collectstatic" in arguments]

    assert collect.startswith("SECRET_KEY=")  # set for this one command only
    assert "--noinput" in collect


def test_health_check_asks_healthz_with_urllib() -> None:
    (health,) = [arguments for keyword, arguments in runtime() if keyword == "HEALTHCHECK"]

    command = json.loads(health[health.index("CMD") + len("CMD") :])
    assert command[:2] == ["python", "-c"]
    assert "urllib.request" in command[2]
    assert "/healthz" in command[2]


@pytest.mark.parametrize(
    "pattern", [".git", ".venv", "tests", ".env", "*.sqlite3", "**/__pycache__", "staticfiles", "artifacts"]
)
def test_dockerignore_keeps_the_context_small_and_free_of_secrets(pattern: str) -> None:
    lines = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}

    assert pattern in lines
