"""The gateway's retries (urllib3's Retry, with full jitter and a report per attempt) over real connections."""

from datetime import UTC, datetime
from email.utils import formatdate

import pytest

from gateway.http import HttpOrderClient
from gateway.orders import RETRY_LATER, OrderAnswerTooSlow, OrderNotFound, OrderServiceUnavailable
from tests.gateway.scripted_service import Answer, refused_url

OID = "6f1c0c9e-4a3b-4c1e-9a57-2b8f5d1e7a10"
ORDER = Answer(body={"id": OID, "status": "cooking"})
NOT_FOUND = Answer(404, {"code": "not_found", "message": "not found"})
TIMEOUT = Answer(delay=0.5)  # longer than READ_TIMEOUT
READ_TIMEOUT = 0.1


@pytest.fixture
def attempts() -> list[str]:
    return []


@pytest.fixture
def client(service, sleep, attempts):
    def make(**kwargs) -> HttpOrderClient:
        options = {
            "base_url": service.url,
            "retries": 3,
            "backoff_base": 0.2,
            "backoff_max": 5.0,
            "read_timeout": READ_TIMEOUT,
            "sleep": sleep,
            "on_attempt": lambda label, seconds: attempts.append(label),
        }
        return HttpOrderClient(**{**options, **kwargs})

    return make


@pytest.fixture
def upper_bound_jitter(monkeypatch):
    """random.uniform returns its upper bound, and records the bounds it was asked for."""
    bounds = []

    def uniform(a, b):
        bounds.append((a, b))
        return b

    monkeypatch.setattr("gateway.retry.random.uniform", uniform)
    return bounds


def test_proxy_settings_of_the_environment_are_not_used(service, client, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", refused_url())  # through it, every call would be refused
    service.answer(ORDER)

    assert client().get_order(OID).status == "cooking"


def test_a_cookie_from_service_order_is_not_sent_back(service, client):
    # A service-to-service call: no session to keep, and a cookie would follow every later order check.
    service.answer(Answer(body={"id": OID, "status": "cooking"}, headers={"Set-Cookie": "session=abc; Path=/"}))
    gateway = client(token="tok", allow_insecure_token=True)

    gateway.get_order(OID)
    gateway.get_order(OID)

    assert len(service.requests) == 2
    for headers in service.requests:
        assert not any(name.lower() == "cookie" for name in headers)
        assert headers["Accept"] == "application/json"
        assert headers["Authorization"] == "Bearer tok"


# --- what is retried ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_status_retried_then_unavailable(service, client, sleep, attempts, status):
    service.answer(Answer(status, {"code": "internal", "message": "boom"}))

    with pytest.raises(OrderServiceUnavailable) as excinfo:
        client(retries=3).get_order(OID)

    assert f"after 4 tries: {status}" in str(excinfo.value)
    assert len(service.requests) == 4
    assert len(sleep.delays) == 3
    assert attempts == [str(status)] * 4


def test_read_timeouts_retried_then_unavailable(service, client, sleep, attempts):
    service.answer(TIMEOUT)

    with pytest.raises(OrderServiceUnavailable) as excinfo:
        client(retries=2).get_order(OID)

    assert "timeout" in str(excinfo.value)
    assert len(service.requests) == 3
    assert len(sleep.delays) == 2
    assert attempts == ["timeout"] * 3


def test_refused_connections_retried_then_unavailable(client, sleep, attempts):
    with pytest.raises(OrderServiceUnavailable) as excinfo:
        client(base_url=refused_url(), retries=2).get_order(OID)

    assert "connection error" in str(excinfo.value)
    assert len(sleep.delays) == 2
    assert attempts == ["connection error"] * 3


def test_a_hang_up_before_the_answer_is_retried(service, client, sleep, attempts):
    service.answer(Answer(hang_up=True), ORDER)

    assert client().get_order(OID).status == "cooking"
    assert attempts == ["connection error", "200"]


def test_a_body_broken_off_is_unavailable_at_once(service, client, sleep, attempts):
    # requests reads the body after urllib3's retries are over: the event is retried later instead.
    service.answer(Answer(body={"id": OID, "status": "cooking"}, broken_body=True), ORDER)

    with pytest.raises(OrderServiceUnavailable) as excinfo:
        client().get_order(OID)

    assert "broke off" in str(excinfo.value)
    assert attempts == ["request error"]
    assert sleep.delays == []


@pytest.mark.parametrize("retries", [0, 1, 5])
def test_number_of_calls_is_retries_plus_one(service, client, sleep, retries):
    service.answer(Answer(503))

    with pytest.raises(OrderServiceUnavailable):
        client(retries=retries).get_order(OID)

    assert len(service.requests) == retries + 1
    assert len(sleep.delays) == retries


def test_success_after_a_few_failures(service, client, sleep, attempts):
    service.answer(Answer(503), TIMEOUT, Answer(hang_up=True), Answer(body={"id": OID, "status": "delivering"}))

    order = client(retries=3).get_order(OID)

    assert order.status == "delivering"
    assert len(service.requests) == 4
    assert len(sleep.delays) == 3
    assert attempts == ["503", "timeout", "connection error", "200"]


def test_retry_ends_on_a_non_retryable_answer(service, client, sleep, attempts):
    service.answer(Answer(500), NOT_FOUND)

    with pytest.raises(OrderNotFound):
        client(retries=3).get_order(OID)

    assert len(service.requests) == 2
    assert len(sleep.delays) == 1
    assert attempts == ["500", "404"]


def test_headers_sent_on_every_retry(service, client):
    service.answer(Answer(503), ORDER)

    client(token="tok", allow_insecure_token=True).get_order(OID)

    assert len(service.requests) == 2
    for headers in service.requests:
        assert headers["Authorization"] == "Bearer tok"
        assert not any(name.lower() == "x-user-id" for name in headers)


# --- backoff -----------------------------------------------------------------------------------


def test_full_jitter_upper_bounds_double_and_are_capped(service, client, sleep, upper_bound_jitter):
    service.answer(Answer(503))

    with pytest.raises(OrderServiceUnavailable):
        client(retries=6, backoff_base=0.5, backoff_max=5.0).get_order(OID)

    assert sleep.delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert upper_bound_jitter == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 4.0), (0, 5.0), (0, 5.0)]


def test_full_jitter_lower_bound_is_zero(service, client, sleep, monkeypatch):
    monkeypatch.setattr("gateway.retry.random.uniform", lambda a, b: a)
    service.answer(Answer(500))

    with pytest.raises(OrderServiceUnavailable):
        client(retries=3).get_order(OID)

    assert sleep.delays == [0, 0, 0]


def test_real_jitter_stays_within_bounds_and_varies(service, client, sleep):
    service.answer(Answer(503))
    gateway = client(retries=4, backoff_base=1.0, backoff_max=3.0)

    for _ in range(20):
        with pytest.raises(OrderServiceUnavailable):
            gateway.get_order(OID)

    bounds = [1.0, 2.0, 3.0, 3.0]
    assert len(sleep.delays) == 20 * 4
    for i, delay in enumerate(sleep.delays):
        assert 0 <= delay <= bounds[i % 4]
    assert len(set(sleep.delays)) > 10  # jittered, not a fixed schedule


def test_retry_after_seconds_is_honoured(service, client, sleep, upper_bound_jitter):
    service.answer(Answer(429, headers={"Retry-After": "2"}), ORDER)

    client(backoff_max=5.0).get_order(OID)

    assert sleep.delays == [2.0]
    assert upper_bound_jitter == []


def test_retry_after_seconds_is_capped(service, client, sleep):
    service.answer(Answer(503, headers={"Retry-After": "120"}), ORDER)

    client(backoff_max=5.0).get_order(OID)

    assert sleep.delays == [5.0]


def test_retry_after_http_date_is_honoured(service, client, sleep, upper_bound_jitter):
    when = formatdate(datetime.now(UTC).timestamp() + 4, usegmt=True)
    service.answer(Answer(503, headers={"Retry-After": when}), ORDER)

    client(backoff_max=10.0).get_order(OID)

    assert len(sleep.delays) == 1
    # The date has a one-second resolution and the clock moves on: about 3 to 4 seconds from now.
    assert 2.0 < sleep.delays[0] <= 4.0
    assert upper_bound_jitter == []


def test_retry_after_http_date_is_capped(service, client, sleep):
    when = formatdate(datetime.now(UTC).timestamp() + 3600, usegmt=True)
    service.answer(Answer(503, headers={"Retry-After": when}), ORDER)

    client(backoff_max=5.0).get_order(OID)

    assert sleep.delays == [5.0]


def test_retry_after_http_date_in_the_past_is_zero(service, client, sleep):
    service.answer(Answer(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), ORDER)

    client().get_order(OID)

    assert sleep.delays == [0.0]


def test_unparseable_retry_after_falls_back_to_jitter(service, client, sleep, upper_bound_jitter):
    service.answer(Answer(503, headers={"Retry-After": "soon"}), ORDER)

    client(backoff_base=0.3).get_order(OID)

    assert sleep.delays == [0.3]
    assert upper_bound_jitter == [(0, 0.3)]


# --- settings and the per-attempt report -------------------------------------------------------


def test_from_settings(service, settings, sleep, upper_bound_jitter):
    settings.ORDER_SERVICE_URL = service.url + "/"
    settings.ORDER_SERVICE_PATH = "/public/api/v1/order/{order_id}/status"
    settings.ORDER_SERVICE_TOKEN = "from-settings"
    settings.ORDER_SERVICE_ALLOW_INSECURE_TOKEN = True
    settings.ORDER_SERVICE_RETRIES = 2
    settings.ORDER_SERVICE_BACKOFF_BASE = 0.25
    settings.ORDER_SERVICE_BACKOFF_MAX = 0.4
    service.answer(Answer(503))

    client = HttpOrderClient.from_settings(sleep=sleep)

    assert client.base_url == service.url
    with pytest.raises(OrderServiceUnavailable):
        client.get_order("42")
    assert len(service.requests) == 3
    assert sleep.delays == [0.25, 0.4]
    assert service.requests[0]["Authorization"] == "Bearer from-settings"


def test_every_attempt_is_reported_with_its_duration(service, client, sleep):
    reports = []
    service.answer(Answer(502), Answer(502), ORDER)

    client(on_attempt=lambda label, seconds: reports.append((label, seconds))).get_order(OID)

    assert [label for label, _ in reports] == ["502", "502", "200"]
    assert all(isinstance(seconds, float) and seconds >= 0 for _, seconds in reports)


# --- the deadline of one attempt ---------------------------------------------------------------


def test_an_answer_trickled_past_the_deadline_ends_there(service, client, sleep, attempts):
    # Every byte comes within the read timeout: only the deadline ends the answer.
    service.answer(Answer(body={"id": OID, "status": "cooking", "pad": "x" * 200}, trickle=READ_TIMEOUT / 4), ORDER)
    gateway = client(deadline=READ_TIMEOUT * 3)

    with pytest.raises(OrderAnswerTooSlow) as excinfo:
        gateway.get_order(OID)

    assert isinstance(excinfo.value, RETRY_LATER)
    assert f"took over {READ_TIMEOUT * 3:g} s" in str(excinfo.value)
    assert attempts == ["timeout"]
    assert sleep.delays == []
    assert gateway.get_order(OID).status == "cooking"  # the pool gives a fresh connection


def test_an_answer_within_the_deadline_is_read(service, client):
    service.answer(Answer(body={"id": OID, "status": "cooking"}, trickle=0.001))

    assert client(deadline=30).get_order(OID).status == "cooking"


def test_a_retried_answer_gives_its_connection_back(service, client):
    service.answer(Answer(503), Answer(502), ORDER)

    client(retries=3).get_order(OID)

    assert len(service.requests) == 3
    assert service.connections == 1
