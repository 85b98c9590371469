"""Throttling: requests without valid credentials are counted by address before their 401, and the address
is the connection's unless NUM_PROXIES says which X-Forwarded-For entry our own proxies wrote."""

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle

from couriers.api.throttling import SearchRateThrottle

pytestmark = pytest.mark.django_db

COURIERS = "/api/v1/couriers/"


@pytest.fixture(autouse=True)
def two_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(AnonRateThrottle.THROTTLE_RATES, "anon", "2/min")


def statuses(client: APIClient, times: int, path: str = COURIERS, **headers: str) -> list[int]:
    return [client.get(path, **headers).status_code for _ in range(times)]


@pytest.mark.parametrize("credentials", [None, "Token not-a-token", "Bearer not-a-token", "Token"])
def test_requests_without_valid_credentials_are_throttled(credentials: str | None) -> None:
    client = APIClient()
    if credentials:
        client.credentials(HTTP_AUTHORIZATION=credentials)

    answers = statuses(client, 3)
    last = client.get(COURIERS)

    assert answers == [401, 401, 429]
    assert last.json()["error"]["code"] == "throttled"
    assert int(last["Retry-After"]) > 0


def test_unknown_paths_and_the_root_count_too() -> None:
    client = APIClient()

    assert [client.get(path).status_code for path in ("/api/v1/", "/api/v1/nowhere/", COURIERS)] == [401, 401, 429]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/schema/"])
def test_the_documentation_is_not_throttled_nor_counted(path: str) -> None:
    client = APIClient()

    assert statuses(client, 4, path) == [200] * 4
    assert statuses(client, 3) == [401, 401, 429]


def test_a_forged_forwarded_address_does_not_escape_the_count() -> None:
    client = APIClient()

    answers = [client.get(COURIERS, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(3)]

    assert answers == [401, 401, 429]


def test_behind_one_proxy_each_client_address_has_its_own_count(settings) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = APIClient()

    # The proxy appends the address it saw; whatever the client wrote before it is ignored.
    first = statuses(client, 3, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.1")
    second = statuses(client, 1, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.2")

    assert (first, second) == ([401, 401, 429], [401])


def test_signed_in_users_are_not_held_to_the_anonymous_rate(reader: APIClient) -> None:
    client = reader

    assert statuses(client, 5) == [200] * 5


def test_searches_have_a_lower_rate_of_their_own(reader: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SearchRateThrottle.THROTTLE_RATES, "search", "2/min")
    client = reader

    searches = [client.get(COURIERS, {"search": f"ann{n}"}).status_code for n in range(3)]
    plain = statuses(client, 3)

    assert searches == [200, 200, 429]
    assert plain == [200, 200, 200]
