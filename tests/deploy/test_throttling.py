"""Throttling as deployed: gunicorn with two workers shares one count (the database cache), a forged
X-Forwarded-For does not reset it, and its settings stop start-up when malformed."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.conftest import last_line, manage, production_env
from tests.deploy.test_gunicorn import BEHIND_TLS, Server, fetch, serve

ANON_LIMIT = 5


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path = tmp_path_factory.mktemp("throttled-web")
    env = production_env(tmp_path) | {
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "1",
        "GUNICORN_KEEPALIVE": "1",
        "API_ANON_THROTTLE_RATE": f"{ANON_LIMIT}/hour",
    }
    result = manage("migrate", "--noinput", env=env)  # also makes the cache's table
    assert result.returncode == 0, result.stdout + result.stderr
    yield from serve(env, tmp_path)


def test_both_workers_share_one_count_that_forged_addresses_do_not_reset(two_workers: Server) -> None:
    # Each request on a new connection, which either worker may take (with counters in each worker's memory,
    # CACHE_URL=locmemcache://, more than ANON_LIMIT get through); each claims another client address, and
    # every third sends a bad token: all of them come from this one address.
    statuses = []
    for n in range(4 * ANON_LIMIT):
        headers = BEHIND_TLS | {"X-Forwarded-For": f"203.0.113.{n}", "Connection": "close"}
        if n % 3 == 0:
            headers["Authorization"] = "Bearer not-a-token"
        statuses.append(fetch(f"{two_workers.url}/api/v1/couriers/", headers).status)

    assert statuses == [401] * ANON_LIMIT + [429] * (3 * ANON_LIMIT)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("API_ANON_THROTTLE_RATE", "lots"),
        ("API_THROTTLE_RATE", "0/min"),
        ("NUM_PROXIES", "-1"),
        ("CACHE_URL", "memcache-ish://cache"),
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("LOGIN_LOCKOUT_MINUTES", "soon"),
    ],
)
def test_start_up_stops_naming_a_malformed_variable(tmp_path: Path, variable: str, value: str) -> None:
    result = manage("check", env=production_env(tmp_path) | {variable: value})

    assert result.returncode != 0
    message = last_line(result.stderr)
    assert f"Environment variable {variable}=" in message
    assert "malformed" in message


def test_a_redis_cache_url_selects_the_redis_cache(tmp_path: Path) -> None:
    env = production_env(tmp_path) | {"CACHE_URL": "redis://cache.internal:6379/2"}

    result = manage("shell", "-c", "from django.conf import settings; print(settings.CACHES['default'])", env=env)

    assert result.returncode == 0, result.stderr
    assert "django.core.cache.backends.redis.RedisCache" in result.stdout
    assert "redis://cache.internal:6379/2" in result.stdout
