"""HttpOrderClient against a mocked service-order (responses): no network, no real sleeps."""

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import requests
import responses

from couriers.models import Delivery
from couriers.order_ids import InvalidOrderId
from gateway.http import HttpOrderClient, order_path
from gateway.orders import (
    RETRY_LATER,
    STATUS_MAX_LENGTH,
    BadOrderAnswer,
    Order,
    OrderNotFound,
    OrderRequestRejected,
    OrderServiceError,
    OrderServiceUnavailable,
)

BASE = "http://orders.test"
PREFIX = "/public/api/v1/order/"
TEMPLATE = PREFIX + "{order_id}"
OID = "6f1c0c9e-4a3b-4c1e-9a57-2b8f5d1e7a10"
URL = BASE + PREFIX + OID
HTTPS_BASE = "https://orders.test"
HTTPS_URL = HTTPS_BASE + PREFIX + OID
ANY_ORDER_URL = re.compile(re.escape(BASE + PREFIX) + ".*")

WHOLE_ORDER = {
    "id": OID,
    "user_id": "default-user",
    "order_number": "A-1001",
    "fio": "Ivanov I.I.",
    "restaurant_id": "rest-1",
    "items": [{"food_id": "f1", "name": "Pizza", "quantity": 1, "price": 500}],
    "total_price": 500,
    "address": {"street": "Main", "house": "1"},
    "status": "cooking",
    "created_at": "2025-08-06T12:00:00Z",
    "updated_at": "2025-08-06T12:00:11Z",
    "estimated_delivery": "0001-01-01T00:00:00Z",
}


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def make_client(sleep, **kwargs):
    options = {"base_url": BASE, "retries": 3, "backoff_base": 0.2, "backoff_max": 5.0, "sleep": sleep}
    return HttpOrderClient(**{**options, **kwargs})


# --- 200 answers -------------------------------------------------------------------------------


def test_whole_order_is_parsed(mocked, sleep):
    mocked.get(URL, json=WHOLE_ORDER)

    order = make_client(sleep).get_order(OID)

    assert order == Order(
        id=OID,
        status="cooking",
        created_at=datetime(2025, 8, 6, 12, 0, 0, tzinfo=UTC),
        updated_at=datetime(2025, 8, 6, 12, 0, 11, tzinfo=UTC),
    )
    assert order.created_at.utcoffset().total_seconds() == 0
    assert len(mocked.calls) == 1
    assert sleep.delays == []


def test_short_status_answer_with_order_id(mocked, sleep):
    mocked.get(
        BASE + PREFIX + "123", json={"order_id": "123", "status": "created", "created_at": "2025-08-06T12:00:00Z"}
    )

    order = make_client(sleep).get_order("123")

    assert order.id == "123"
    assert order.status == "created"
    assert order.created_at == datetime(2025, 8, 6, 12, 0, 0, tzinfo=UTC)
    assert order.updated_at is None


def test_order_id_is_preferred_over_id(mocked, sleep):
    mocked.get(URL, json={"order_id": "from-order-id", "id": "from-id", "status": "pending"})

    assert make_client(sleep).get_order(OID).id == "from-order-id"


def test_id_used_when_order_id_absent(mocked, sleep):
    mocked.get(URL, json={"id": "from-id", "status": "pending"})

    assert make_client(sleep).get_order(OID).id == "from-id"


def test_requested_id_used_when_answer_has_no_id(mocked, sleep):
    mocked.get(URL, json={"status": "pending"})

    assert make_client(sleep).get_order(OID).id == OID


def test_missing_timestamps_are_none(mocked, sleep):
    mocked.get(URL, json={"id": OID, "status": "confirmed"})

    order = make_client(sleep).get_order(OID)

    assert order.status == "confirmed"
    assert order.created_at is None
    assert order.updated_at is None


@pytest.mark.parametrize("value", ["not a date", "2025-13-45T99:00:00Z", 12345, None, ""])
def test_unparseable_timestamps_are_none(mocked, sleep, value):
    mocked.get(URL, json={"id": OID, "status": "confirmed", "created_at": value, "updated_at": value})

    order = make_client(sleep).get_order(OID)

    assert order.status == "confirmed"
    assert order.created_at is None
    assert order.updated_at is None


def test_timestamp_with_offset_is_kept_aware(mocked, sleep):
    mocked.get(URL, json={"id": OID, "status": "cooking", "updated_at": "2025-08-06T15:00:00+03:00"})

    order = make_client(sleep).get_order(OID)

    assert order.updated_at == datetime(2025, 8, 6, 12, 0, 0, tzinfo=UTC)


# --- answers that must not be retried ----------------------------------------------------------


def test_404_is_order_not_found_without_retry(mocked, sleep):
    mocked.get(URL, status=404, json={"code": "not_found", "message": "not found"})

    with pytest.raises(OrderNotFound):
        make_client(sleep).get_order(OID)

    assert len(mocked.calls) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"body": "404 page not found", "content_type": "text/plain"},
        {"body": "<html><body>no route</body></html>", "content_type": "text/html"},
        {"body": "", "content_type": "application/json"},
        {"json": {"code": "no_route", "message": "not found"}},
        {"json": ["not_found"]},
    ],
    ids=["plain-text", "html", "empty", "other-code", "json-list"],
)
def test_a_404_that_is_not_service_orders_is_an_outage_not_a_missing_order(mocked, sleep, caplog, kwargs):
    mocked.get(URL, status=404, **kwargs)

    with pytest.raises(OrderServiceUnavailable) as excinfo:
        make_client(sleep, path_template=TEMPLATE).get_order(OID)

    assert isinstance(excinfo.value, RETRY_LATER)
    assert "ORDER_SERVICE_URL" in str(excinfo.value)
    assert "ORDER_SERVICE_PATH" in str(excinfo.value)
    assert len(mocked.calls) == 1
    [record] = [r for r in caplog.records if r.name == "gateway.http"]
    assert record.levelname == "ERROR"
    assert "ORDER_SERVICE_URL (http://orders.test)" in record.getMessage()
    assert f"ORDER_SERVICE_PATH ({TEMPLATE})" in record.getMessage()


@pytest.mark.parametrize("status", [400, 422])
def test_rejected_request_without_retry(mocked, sleep, status):
    mocked.get(URL, status=status, json={"code": "bad_request", "message": "malformed id"})

    with pytest.raises(OrderRequestRejected) as excinfo:
        make_client(sleep).get_order(OID)

    assert str(status) in str(excinfo.value)
    assert "malformed id" in str(excinfo.value)
    assert len(mocked.calls) == 1
    assert sleep.delays == []


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_unavailable_without_retry(mocked, sleep, status):
    mocked.get(URL, status=status, json={"code": "unauthorized", "message": "no"})

    with pytest.raises(OrderServiceUnavailable) as excinfo:
        make_client(sleep).get_order(OID)

    assert isinstance(excinfo.value, RETRY_LATER)
    assert str(status) in str(excinfo.value)
    assert len(mocked.calls) == 1
    assert sleep.delays == []


def test_redirect_is_not_followed(mocked, sleep):
    mocked.get(URL, status=302, headers={"Location": BASE + "/elsewhere"})
    elsewhere = mocked.get(BASE + "/elsewhere", json={"id": OID, "status": "cooking"})

    with pytest.raises(OrderRequestRejected):
        make_client(sleep).get_order(OID)

    assert len(mocked.calls) == 1
    assert elsewhere.call_count == 0


# --- failures (their retries: test_retries.py, against a real server) ---


def test_service_errors_are_order_service_errors(mocked, sleep):
    mocked.get(URL, body=requests.ConnectionError("refused"))

    with pytest.raises(OrderServiceError):
        make_client(sleep, retries=0).get_order(OID)


# --- bad 200 answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"body": "<html>gateway</html>", "content_type": "text/html"},
        {"body": "", "content_type": "application/json"},
        {"json": {"id": OID}},
        {"json": {"id": OID, "status": ""}},
        {"json": {"id": OID, "status": None}},
        {"json": {"id": OID, "status": 5}},
        {"json": [{"id": OID, "status": "cooking"}]},
        {"json": "cooking"},
        {"json": {"id": OID, "status": "c" * (STATUS_MAX_LENGTH + 1)}},
        {"json": {"id": OID, "status": "cooking\n2025-08-06 INFO forged line"}},
        {"json": {"id": OID, "status": "cook\x00ing"}},
    ],
    ids=[
        "non-json",
        "empty-body",
        "no-status",
        "empty-status",
        "null-status",
        "int-status",
        "list",
        "string",
        "too-long-status",
        "newline-status",
        "nul-status",
    ],
)
def test_bad_answers(mocked, sleep, kwargs):
    mocked.get(URL, status=200, **kwargs)

    with pytest.raises(BadOrderAnswer) as excinfo:
        make_client(sleep).get_order(OID)

    assert isinstance(excinfo.value, RETRY_LATER)
    assert len(mocked.calls) == 1


def test_the_longest_status_the_column_holds_is_accepted(mocked, sleep):
    mocked.get(URL, json={"id": OID, "status": "s" * STATUS_MAX_LENGTH})

    assert make_client(sleep).get_order(OID).status == "s" * STATUS_MAX_LENGTH
    assert Delivery._meta.get_field("order_status").max_length == STATUS_MAX_LENGTH


# --- path encoding -----------------------------------------------------------------------------

HOSTILE_IDS = [
    ".",
    "..",
    "",
    "../admin?x=1",
    "a/b",
    "#frag",
    "%2e%2e",
    "%2F",
    "a b",
    "заказ-1",
    "✓",
    "a.b",
    "?",
    "{order_id}",
]


@pytest.mark.parametrize("order_id", HOSTILE_IDS)
def test_an_id_outside_the_rule_is_refused_without_a_call(mocked, sleep, order_id):
    # The same rule as events' and the API's (couriers.order_ids): such an id never came in, so it is a bug
    # upstream, never an answer from service-order (not an OrderServiceError).
    mocked.get(re.compile(".*"), json={"status": "cooking"})

    with pytest.raises(InvalidOrderId):
        make_client(sleep).get_order(order_id)

    assert len(mocked.calls) == 0
    assert sleep.delays == []


@pytest.mark.parametrize("base", [BASE, "http://Orders.TEST"])
@pytest.mark.parametrize("order_id", [OID, "A-1001", "x_9"])
def test_the_url_sent_is_the_one_requests_prepares(mocked, sleep, base, order_id):
    # The request is prepared by the client, not by Session.request: the bytes on the wire must not change.
    mocked.get(re.compile(".*"), json={"status": "cooking"})

    make_client(sleep, base_url=base).get_order(order_id)

    url = base + order_path(TEMPLATE, order_id)
    assert mocked.calls[0].request.url == requests.Request("GET", url).prepare().url
    assert urlsplit(mocked.calls[0].request.url).path == PREFIX + order_id


def test_custom_path_template_and_trailing_slash_in_base(mocked, sleep):
    mocked.get(BASE + f"/public/api/v1/order/{OID}/status", json={"order_id": OID, "status": "pending"})

    order = make_client(sleep, base_url=BASE + "/", path_template="/public/api/v1/order/{order_id}/status").get_order(
        OID
    )

    assert order.id == OID
    assert mocked.calls[0].request.url == BASE + f"/public/api/v1/order/{OID}/status"


def test_a_built_url_off_the_configured_host_is_refused_without_a_call(mocked, sleep, monkeypatch):
    # Whatever a future change to the path building lets through, the token never leaves service-order.
    monkeypatch.setattr("gateway.http.order_path", lambda template, order_id: ".attacker.example/x")
    mocked.get(re.compile(".*"), json={"status": "cooking"})

    with pytest.raises(OrderRequestRejected) as excinfo:
        make_client(sleep).get_order(OID)

    assert "would take the request off http://orders.test" in str(excinfo.value)

    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path_template": "public/api/v1/order/{order_id}"}, "must start with /"),
        ({"path_template": "/public/api/v1/order/"}, "must contain {order_id}"),
        ({"token": "s3cret"}, "ORDER_SERVICE_ALLOW_INSECURE_TOKEN"),
    ],
)
def test_a_client_that_could_leak_is_refused(sleep, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_client(sleep, **kwargs)


@pytest.mark.parametrize("base_url", ["http://.orders.test", "http://orders test"])
def test_a_base_url_requests_cannot_send_to_is_refused(sleep, base_url):
    # The request is prepared once, with the base URL: an unusable one is found then, not at every call.
    with pytest.raises(requests.exceptions.InvalidURL):
        make_client(sleep, base_url=base_url)


def test_a_token_over_http_when_explicitly_allowed(mocked, sleep):
    mocked.get(URL, json={"id": OID, "status": "cooking"})

    make_client(sleep, token="s3cret", allow_insecure_token=True).get_order(OID)

    assert mocked.calls[0].request.headers["Authorization"] == "Bearer s3cret"


# --- headers and timeouts ----------------------------------------------------------------------


def test_bearer_token_sent_when_configured(mocked, sleep):
    mocked.get(HTTPS_URL, json={"id": OID, "status": "cooking"})

    make_client(sleep, base_url=HTTPS_BASE, token="s3cret").get_order(OID)

    headers = mocked.calls[0].request.headers
    assert headers["Authorization"] == "Bearer s3cret"
    assert "X-User-ID" not in headers
    assert headers["Accept"] == "application/json"


def test_no_authorization_without_token(mocked, sleep):
    mocked.get(URL, json={"id": OID, "status": "cooking"})

    make_client(sleep, token="").get_order(OID)

    headers = mocked.calls[0].request.headers
    assert "Authorization" not in headers
    assert "X-User-ID" not in headers


def test_connect_and_read_timeouts_are_passed(mocked, sleep):
    mocked.get(URL, json={"id": OID, "status": "cooking"})

    make_client(sleep, connect_timeout=1.5, read_timeout=7.0).get_order(OID)

    assert mocked.calls[0].request.req_kwargs["timeout"] == (1.5, 7.0)


# --- settings ----------------------------------------------------------------------------------


def test_from_settings_overrides_win(mocked, settings, sleep):
    settings.ORDER_SERVICE_URL = "http://svc-order.internal:8080"
    settings.ORDER_SERVICE_TOKEN = ""
    settings.ORDER_SERVICE_RETRIES = 5
    mocked.get("http://other.test" + PREFIX + "7", status=500)

    client = HttpOrderClient.from_settings(base_url="http://other.test", retries=0, sleep=sleep)

    with pytest.raises(OrderServiceUnavailable):
        client.get_order("7")
    assert len(mocked.calls) == 1
    assert "Authorization" not in mocked.calls[0].request.headers


# --- on_attempt --------------------------------------------------------------------------------


def test_on_attempt_reports_final_non_retryable_answer(mocked, sleep):
    attempts = []
    mocked.get(URL, status=404, json={"code": "not_found", "message": "not found"})

    with pytest.raises(OrderNotFound):
        make_client(sleep, on_attempt=lambda label, elapsed: attempts.append(label)).get_order(OID)

    assert attempts == ["404"]
