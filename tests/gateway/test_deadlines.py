"""Each HTTP attempt ends by ORDER_SERVICE_DEADLINE whatever the peer does (gateway.deadlines).

Every stall here sends a byte well within the read timeout, for far longer than the test's time limit: only the
deadline can end the call, and a call it did not end fails the test by its timeout.
"""

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from gateway.http import HttpOrderClient
from gateway.orders import RETRY_LATER, OrderAnswerTooSlow, OrderNotFound, OrderServiceUnavailable
from tests.gateway.scripted_service import Answer, ScriptedService, answer_bytes, scripted_service
from tests.gateway.stalls import unanswered_url

OID = "6f1c0c9e-4a3b-4c1e-9a57-2b8f5d1e7a10"
ORDER = Answer(body={"id": OID, "status": "cooking"})
NOT_FOUND = {"code": "not_found", "message": "not found"}
DEADLINE = 0.3
PAUSE = 0.02  # between the pieces of a stalled answer: far below the read timeout
PADDING = {f"X-Padding-{n}": "x" * 60 for n in range(60)}  # about 4 KB of headers: 80 s at one byte per PAUSE
LONG_BODY = b" " * 4000  # JSON allows the blank: 80 s at one byte per PAUSE

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def attempts() -> list[str]:
    return []


@pytest.fixture
def client(sleep, attempts):
    def make(url: str, **kwargs) -> HttpOrderClient:
        options = {
            "base_url": url,
            "connect_timeout": 60.0,
            "read_timeout": 60.0,  # never reached: the deadline ends everything
            "deadline": DEADLINE,
            "retries": 1,
            "sleep": sleep,
            "on_attempt": lambda label, seconds: attempts.append(label),
        }
        return HttpOrderClient(**{**options, **kwargs})

    return make


STALLS = {
    "status-line-slow": Answer(body={"status": "cooking"}, headers=PADDING, trickle=PAUSE, trickle_from="status"),
    "headers-trickled": Answer(body={"status": "cooking"}, headers=PADDING, trickle=PAUSE, trickle_from="headers"),
    "200-body-trickled": Answer(raw=b'{"status": "cooking"}' + LONG_BODY, trickle=PAUSE),
    "404-body-trickled": Answer(404, raw=b'{"code": "not_found", "message": "not found"}' + LONG_BODY, trickle=PAUSE),
}


@pytest.mark.parametrize("stall", STALLS.values(), ids=STALLS.keys())
def test_a_stalled_answer_is_a_timeout_and_the_next_call_is_answered(service, client, attempts, stall):
    service.answer(stall, ORDER)
    gateway = client(service.url, retries=0)

    with pytest.raises(OrderServiceUnavailable) as excinfo:
        gateway.get_order(OID)

    assert isinstance(excinfo.value, RETRY_LATER)
    assert attempts == ["timeout"]
    assert gateway.get_order(OID).status == "cooking"  # a shut connection never goes back to work


def test_a_trickled_body_cut_at_the_deadline_is_never_taken_for_the_answer(service, client, attempts):
    # Without a length the body ends when the connection does: cut at the deadline, it would read as valid JSON.
    service.answer(Answer(raw=b'{"status": "cooking"}' + LONG_BODY, close_delimited=True, trickle=PAUSE))

    with pytest.raises(OrderAnswerTooSlow, match=f"took over {DEADLINE:g} s"):
        client(service.url).get_order(OID)

    assert attempts == ["timeout"]


def test_a_503_whose_body_trickles_is_retried_then_unavailable(service, client, attempts, sleep):
    service.answer(Answer(503, raw=b'{"code": "internal", "message": "x"}' + LONG_BODY, trickle=PAUSE))

    with pytest.raises(OrderServiceUnavailable, match="after 2 tries: 503"):
        client(service.url).get_order(OID)

    assert attempts == ["503", "503"]
    assert len(sleep.delays) == 1  # the first body was drained up to the deadline, then retried


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_connection_accepted_and_never_answered_is_a_timeout(client, attempts, scheme):
    # https: the TLS handshake waits for a server hello that never comes.
    with unanswered_url(scheme) as url, pytest.raises(OrderServiceUnavailable, match="after 2 tries: timeout"):
        client(url).get_order(OID)

    assert attempts == ["timeout", "timeout"]


# --- any trickle ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_service() -> Iterator[ScriptedService]:
    with scripted_service() as service:
        yield service


BODIES = {200: {"status": "cooking"}, 404: NOT_FOUND, 503: {"code": "internal", "message": "down"}}


@given(
    status=st.sampled_from(sorted(BODIES)),
    phase=st.sampled_from(["status", "headers", "body"]),
    pause=st.floats(0.001, 0.05),
    size=st.integers(1, 64),
    padding=st.integers(0, 40),
)
@examples(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_trickle_ends_in_the_answer_or_a_retry_later(shared_service, status, phase, pause, size, padding):
    answer = Answer(
        status,
        BODIES[status],
        headers={f"X-Padding-{n}": "x" * 60 for n in range(padding)},
        trickle=pause,
        trickle_from=phase,
        trickle_size=size,
    )
    shared_service.answer(answer)
    gateway = HttpOrderClient(base_url=shared_service.url, read_timeout=60.0, deadline=DEADLINE, retries=0)

    try:
        order = gateway.get_order(OID)
    except RETRY_LATER:
        return  # always allowed: a slow enough machine may miss any deadline
    except OrderNotFound:
        assert status == 404
    else:
        assert (status, order.status) == (200, "cooking")
    # The answer was read whole: the peer took less than the deadline to send it.
    assert _pieces(answer) * pause < DEADLINE


def _pieces(answer: Answer) -> int:
    """How many pauses the service makes before the last byte of `answer` is sent."""
    status_line, headers, body = (len(part) for part in answer_bytes(answer))
    trickled = {"status": status_line + headers + body, "headers": headers + body, "body": body}[answer.trickle_from]
    return -(-trickled // answer.trickle_size)
