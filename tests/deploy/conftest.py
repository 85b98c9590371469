"""Helpers for the deployment tests: the project run as it is deployed, in subprocesses with an explicit environment."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def base_env(tmp_path: Path) -> dict[str, str]:
    """What any subprocess needs, and nothing of this test process's own environment (test_settings sets some)."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LOCAL_ENV_FILE": "",  # as in the image: a developer's .env.local is not production's
    }


def production_env(tmp_path: Path) -> dict[str, str]:
    """The real settings as production runs them: DEBUG off, behind a TLS proxy, every security setting on."""
    return {
        **base_env(tmp_path),
        "DJANGO_SETTINGS_MODULE": "courier_project.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
        "ALLOWED_HOSTS": "courier.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://courier.example.com",
        "SECURE_PROXY_SSL": "true",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "LOG_FORMAT": "json",
    }


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def last_line(text: str) -> str:
    """The message a failed start-up ends with (after Django's traceback)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@pytest.fixture
def prod_env(tmp_path: Path) -> dict[str, str]:
    return production_env(tmp_path)
