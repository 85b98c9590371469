"""The README's commands work as written, on a machine where the demo ran.

In a copy of the project, the demo runs once as `make demo ARGS=--no-serve` runs it; then, from a shell that
sets nothing, every ```sh block of the local sections below runs as a script, and every curl line of the
other sections too, against a live web server of the copy; every curl must get a 2xx answer. The only
change to what the README says: the server's address.
Covered elsewhere: `make demo` (tests/e2e/test_demo.py), `make test` (CI), the benchmark (tests/sandbox).
"""

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sandbox.demo.ports import free_port
from tests import system_tools
from tests.deploy.conftest import REPO, base_env

pytestmark = [pytest.mark.e2e, system_tools.CURL]

LOCAL_SECTIONS = ("For other teams: the API in five minutes",)
README_SERVER = "http://127.0.0.1:8000"
SMALL_DEMO = ("--no-serve", "--orders", "20", "--spread", "1", "--time-scale", "0.01", "--seed", "3")
CURL_WITH_STATUS = 'curl() { command curl --write-out "\\nHTTP %{http_code}\\n" "$@"; }\n'
LEFT_BEHIND = (".git", ".venv", "artifacts", "staticfiles", "*.sqlite3*", ".env", ".env.local", "__pycache__")
LEFT_BEHIND += (".pytest_cache", ".ruff_cache")


def sh_blocks(markdown: str) -> dict[str, list[str]]:
    """The ```sh blocks of each `## ` section, by the section's title."""
    blocks: dict[str, list[str]] = {}
    for section in re.split(r"^## ", markdown, flags=re.MULTILINE)[1:]:
        title, _, body = section.partition("\n")
        blocks[title.strip()] = re.findall(r"^```sh\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)
    return blocks


def curl_lines(blocks: dict[str, list[str]]) -> list[str]:
    """Every command line starting with curl, outside the local sections (those run whole)."""
    return [
        line.split("  #")[0].strip()
        for title, texts in blocks.items()
        if title not in LOCAL_SECTIONS
        for text in texts
        for line in text.splitlines()
        if line.startswith("curl ")
    ]


def as_run_here(script: str, server: str) -> str:
    """The script against `server`, each curl also writing its answer's HTTP status on a line of its own."""
    return CURL_WITH_STATUS + script.replace(README_SERVER, server)


def http_statuses(output: str) -> list[str]:
    return re.findall(r"^HTTP (\d{3})$", output, flags=re.MULTILINE)


def curl_count(script: str) -> int:
    return len(re.findall(r"^curl ", script, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A shell that sets no setting, as a newcomer's."""
    env = base_env(tmp_path_factory.mktemp("home"))
    del env["LOCAL_ENV_FILE"]  # the default: .env.local
    return env


@pytest.fixture(scope="module")
def after_the_demo(tmp_path_factory: pytest.TempPathFactory, newcomer: dict[str, str]) -> Path:
    """A copy of the project in which the demo has run (its database, its user, its .env.local)."""
    copy = tmp_path_factory.mktemp("clone") / "service-courier"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(*LEFT_BEHIND), symlinks=True)
    (copy / ".venv").symlink_to((REPO / ".venv").resolve())
    demo = subprocess.run(
        [".venv/bin/python", "manage.py", "demo", *SMALL_DEMO],
        cwd=copy,
        env=newcomer | {"DEBUG": "true"},  # as `make demo` runs it
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    return copy


@pytest.fixture(scope="module")
def web_server(after_the_demo: Path, newcomer: dict[str, str]) -> Iterator[str]:
    """`manage.py runserver` in the copy, with nothing but what the demo left behind."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = after_the_demo / "web.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=after_the_demo,
            env=newcomer,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(url, server, log)
        yield url
    finally:
        server.terminate()
        server.wait(15)


def wait_until_ready(url: str, server: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, f"the web server stopped:\n{log.read_text()[-3000:]}"
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"the web server was not ready in {timeout} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)


def run_script(script: str, project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )


README = (REPO / "README.md").read_text()
BLOCKS = sh_blocks(README)


def test_the_local_sections_have_commands_to_run() -> None:
    # Guards the extraction: a renamed section would otherwise run nothing and pass.
    assert all(BLOCKS.get(title) for title in LOCAL_SECTIONS), sorted(BLOCKS)
    assert curl_lines(BLOCKS)


@pytest.mark.parametrize("title", LOCAL_SECTIONS)
def test_the_commands_of_a_local_section_work_as_written(
    title: str, after_the_demo: Path, web_server: str, newcomer: dict[str, str]
) -> None:
    for block in BLOCKS[title]:
        script = as_run_here(block, web_server)

        result = run_script(script, after_the_demo, newcomer)

        output = f"{script}\n--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr}"
        assert result.returncode == 0, output
        assert "Traceback" not in result.stderr, output
        statuses = http_statuses(result.stdout)
        assert len(statuses) == curl_count(block), output
        assert all(status.startswith("2") for status in statuses), output


@pytest.mark.parametrize("line", curl_lines(BLOCKS))
def test_the_curl_examples_of_the_readme_work(line: str, after_the_demo: Path, web_server: str, newcomer) -> None:
    command = as_run_here(line, web_server)

    result = run_script(command, after_the_demo, newcomer)

    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr}"
    assert [status[0] for status in http_statuses(result.stdout)] == ["2"], result.stdout[-2000:]
