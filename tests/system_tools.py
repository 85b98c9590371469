"""Tests that drive a system tool the project cannot install by itself (it comes from Debian's packages).

On a machine with only Python such a test is skipped with a one-line reason naming what to install; in CI
(CI set) nothing is skipped: tests/conftest.py fails a CI run that skipped anything, and .ci/run installs
every package named here.
"""

import shutil

import pytest


def requires(*executables: str, install: str) -> pytest.MarkDecorator:
    """Skip unless every executable is on PATH; `install` says how to get them (`apt-get install ...`)."""
    missing = [name for name in executables if shutil.which(name) is None]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}: {install}")


DOCKER_COMPOSE = requires("docker-compose", install="apt-get install --no-install-recommends docker-compose")
CHROMIUM = requires("chromium", "chromedriver", install="apt-get install chromium chromium-driver")
CURL = requires("curl", install="apt-get install curl")
