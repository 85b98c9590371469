"""The web process as the image runs it: collected static files, gunicorn with gunicorn.conf.py, production settings."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO, last_line, manage, production_env
from tests.deploy.test_dockerfile import runtime

READY_WITHIN = 30.0  # seconds for gunicorn to answer its first request
STOP_WITHIN = 30.0  # seconds for gunicorn to exit after SIGTERM (its graceful timeout is 20)


@dataclass
class Server:
    url: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(url: str, headers: dict[str, str] | None = None) -> Answer:
    """GET without following redirects: a redirect is an answer to check, not to follow."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(server: Server) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.process.returncode}:\n{server.stderr.read_text()}")
        try:
            fetch(f"{server.url}/admin/login/")
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer within {READY_WITHIN}s:\n{server.stderr.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path = tmp_path_factory.mktemp("web")
    env = production_env(tmp_path) | {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "2"}
    for command in (["collectstatic", "--noinput"], ["migrate", "--noinput"]):
        result = manage(*command, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    yield from serve(env, tmp_path)


def serve(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    """gunicorn as the image runs it, on a free port, until the generator is closed."""
    port = free_port()
    stdout, stderr = tmp_path / "gunicorn.out", tmp_path / "gunicorn.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
        )
    server = Server(f"http://127.0.0.1:{port}", port, env, process, stdout, stderr)
    try:
        wait_until_answering(server)
        yield server
    finally:
        stop(process)


# Requests as the TLS-terminating proxy forwards them (SECURE_PROXY_SSL=true, SECURE_SSL_REDIRECT=true).
BEHIND_TLS = {"X-Forwarded-Proto": "https"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_answer_over_plain_http(server: Server, path: str) -> None:
    # Exempt from the HTTPS redirect: asked from inside the network (health checks, Prometheus).
    answer = fetch(f"{server.url}{path}")

    assert answer.status == 200, answer.body[:500]


def test_admin_login_page_is_served(server: Server) -> None:
    answer = fetch(f"{server.url}/admin/login/", BEHIND_TLS)

    assert answer.status == 200, answer.body[:500]
    assert b"csrfmiddlewaretoken" in answer.body
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_static_file_is_served_by_whitenoise(server: Server) -> None:
    answer = fetch(f"{server.url}/static/admin/css/base.css", BEHIND_TLS)

    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/css")
    assert b"body" in answer.body


def test_plain_http_is_redirected_to_https(server: Server) -> None:
    answer = fetch(f"{server.url}/admin/login/")

    assert answer.status == 301
    assert answer.headers["Location"].startswith("https://")


def test_an_unknown_host_is_refused(server: Server) -> None:
    answer = fetch(f"{server.url}/admin/login/", BEHIND_TLS | {"Host": "attacker.example.net"})

    assert answer.status == 400


def test_the_image_health_check_command_passes(server: Server) -> None:
    # The HEALTHCHECK of the Dockerfile, run as Docker runs it (the image sets PORT).
    (health,) = [arguments for keyword, arguments in runtime() if keyword == "HEALTHCHECK"]
    command = json.loads(health[health.index("CMD") + len("CMD") :])

    result = subprocess.run(
        [sys.executable, *command[1:]], env=server.env | {"PORT": str(server.port)}, capture_output=True, timeout=30
    )

    assert result.returncode == 0, result.stderr


def test_access_log_is_json_on_stdout(server: Server) -> None:
    agent = f"deploy-test-{uuid.uuid4()}"  # tells this request's line from the other tests' ones
    fetch(f"{server.url}/admin/login/", BEHIND_TLS | {"User-Agent": agent})

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in server.stdout.read_text().splitlines() if line.startswith("{")]
        access = [line for line in lines if line["logger"] == "gunicorn.access" and agent in line["message"]]
        if access:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no access line on stdout:\n{server.stdout.read_text()}")
    (line,) = access
    assert (line["method"], line["path"], line["status"]) == ("GET", "/admin/login/", 200)
    assert isinstance(line["duration_ms"], int)


def test_sigterm_stops_gunicorn_gracefully(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
    finally:
        returncode = stop(process)

    assert returncode == 0


@pytest.mark.parametrize(("variable", "value"), [("WEB_CONCURRENCY", "0"), ("PORT", "http"), ("LOG_FORMAT", "xml")])
def test_gunicorn_stops_naming_a_malformed_variable(tmp_path: Path, variable: str, value: str) -> None:
    env = production_env(tmp_path) | {variable: value}

    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--check-config"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert f"Environment variable {variable}=" in result.stdout + result.stderr, last_line(result.stderr)
