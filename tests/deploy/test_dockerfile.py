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


def stage_chain(name: str) -> list[tuple[str, str]]:
    """Every instruction that makes target `name`: its stage and the stages it is built FROM, oldest first."""
    by_name = {stage[0][1].split()[-1]: stage for stage in stages()}
    stage = by_name[name]
    base = stage[0][1].split()[0]
    return (stage_chain(base) if base in by_name else []) + stage


def runtime() -> list[tuple[str, str]]:
    """The production image: the last stage (the default target) with the stages it builds on."""
    assert stages()[-1][0][1].endswith(" AS runtime")
    return stage_chain("runtime")


def copied_sources(chain: list[tuple[str, str]]) -> list[str]:
    sources = []
    for keyword, arguments in chain:
        if keyword == "COPY" and "--from" not in arguments:
            *paths, _destination = [word for word in arguments.split() if not word.startswith("--")]
            sources += [path.rstrip("/") for path in paths]
    return sources


def test_base_image_is_a_pinned_slim_python_311() -> None:
    args = dict(
        arguments.split("=", 1) for keyword, arguments in instructions() if keyword == "ARG" and "=" in arguments
    )

    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", args["PYTHON_IMAGE"])
    assert [arguments for keyword, arguments in instructions() if keyword == "FROM"] == [
        "${PYTHON_IMAGE} AS build",
        "${PYTHON_IMAGE} AS app",
        "app AS sandbox",
        "app AS runtime",
    ]


def test_the_runtime_image_holds_nothing_of_the_sandbox() -> None:
    sources = copied_sources(runtime())
    installs = " ".join(
        arguments for keyword, arguments in runtime() if keyword == "RUN" and "pip install" in arguments
    )
    production = (REPO / "requirements.txt").read_text()

    assert "." not in sources, "COPY . would bring sandbox/ along"
    assert not [source for source in sources if source.split("/")[0] == "sandbox"], sources
    assert "--require-hashes --no-deps --requirement /wheels/requirements.lock" in installs
    assert "requirements-sandbox" not in installs
    assert not re.search(r"^rich\b", production, re.MULTILINE), "rich is the demo's, not production's"


def test_the_runtime_image_copies_every_production_app() -> None:
    sources = copied_sources(runtime())

    assert {"manage.py", "gunicorn.conf.py", "courier_project", "couriers", "gateway", "tokens"} <= set(sources)


def test_the_sandbox_target_adds_the_simulator_and_its_libraries() -> None:
    sandbox = stage_chain("sandbox")
    installs = " ".join(arguments for keyword, arguments in sandbox if keyword == "RUN" and "pip install" in arguments)

    assert "sandbox" in copied_sources(sandbox)
    assert "--require-hashes --no-deps --requirement /wheels/requirements-sandbox.lock" in " ".join(installs.split())
    sandbox_requirements = (REPO / "requirements-sandbox.txt").read_text().splitlines()
    assert "-r requirements.txt" in sandbox_requirements
    assert any(line.startswith("rich==") for line in sandbox_requirements)
    assert [arguments for keyword, arguments in sandbox if keyword == "USER"][-1] == "10001:10001"


def test_the_code_is_made_readable_whatever_the_checkout_umask() -> None:
    last_copy = max(index for index, (keyword, _) in enumerate(runtime()) if keyword == "COPY")

    assert any(
        keyword == "RUN" and "chmod -R a+rX /app" in arguments for keyword, arguments in runtime()[last_copy:]
    ), "chmod must come after the last COPY"


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
    "pattern",
    [
        ".git",
        ".venv",
        "tests",
        ".env",
        "*.sqlite3",
        "**/__pycache__",
        "staticfiles",
        "artifacts",
        ".hypothesis",
        ".schemathesis",
    ],
)
def test_dockerignore_keeps_the_context_small_and_free_of_secrets(pattern: str) -> None:
    lines = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}

    assert pattern in lines


def locked(name: str) -> dict[str, tuple[str, set[str]]]:
    """A pip-compile lock: {package: (version, its hashes)}; fails on an entry without a pin or a hash."""
    entries = re.sub(r"\\\n\s*", " ", (REPO / name).read_text())
    result = {}
    for line in entries.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            requirement, *options = line.split()
            package, _, version = requirement.partition("==")
            hashes = {option.removeprefix("--hash=") for option in options if option.startswith("--hash=sha256:")}
            assert version, f"{name}: {requirement} is not pinned"
            assert hashes, f"{name}: {requirement} has no hash"
            result[package.lower().split("[")[0]] = (version, hashes)
    return result


def pins(name: str) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in (REPO / name).read_text().splitlines()]
    return dict(line.lower().split("==") for line in lines if "==" in line)


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [
        ("requirements.txt", "requirements.lock"),
        ("requirements-sandbox.txt", "requirements-sandbox.lock"),
        ("requirements-build.txt", "requirements-build.lock"),
    ],
)
def test_every_dependency_is_locked_with_hashes_at_the_pinned_version(requirements: str, lock: str) -> None:
    entries = locked(lock)

    for package, version in pins(requirements).items():
        assert entries[package.split("[")[0]][0] == version, f"{lock}: {package} is not {version} (make lock)"
    assert len(entries) > len(pins(requirements)), "the transitive dependencies are locked too"


def test_the_sandbox_lock_holds_the_runtime_lock_unchanged() -> None:
    runtime_lock, sandbox_lock = locked("requirements.lock"), locked("requirements-sandbox.lock")

    assert {package: sandbox_lock[package] for package in runtime_lock} == runtime_lock


def test_the_build_verifies_hashes_compiles_nothing_and_ships_an_sbom() -> None:
    build = stage_chain("build")
    runs = " ".join(arguments for keyword, arguments in build if keyword == "RUN")
    copies = [arguments for keyword, arguments in runtime() if keyword == "COPY" and "--from=build" in arguments]

    assert "pip download --require-hashes --no-deps --only-binary=:all:" in runs
    assert "--requirement /wheels/requirements-build.lock" in runs
    assert "cyclonedx-py requirements --output-format JSON" in runs
    assert "/wheels/requirements.lock" in runs.split("cyclonedx-py")[1]
    assert "--from=build /sbom.cdx.json /app/sbom.cdx.json" in copies
