"""consume_orders' own options: where its metrics server listens."""

import socket
import urllib.error
import urllib.request
from unittest import mock

import pytest
from django.core.management import call_command

from couriers.consumer.metrics_server import start_metrics_server


class Served(Exception):
    """Stops the command right after it started its metrics server."""


def test_metrics_server_listens_at_the_configured_address(settings: object) -> None:
    settings.CONSUMER_METRICS_ADDRESS = "10.9.8.7"
    settings.METRICS_TOKEN = "scrape-token"
    target = "couriers.management.commands.consume_orders.start_metrics_server"

    with mock.patch(target, side_effect=Served) as start, pytest.raises(Served):
        call_command("consume_orders", "--metrics-port", "9100")

    start.assert_called_once_with(9100, address="10.9.8.7", token="scrape-token")


def scrape(port: int, authorization: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


@pytest.fixture
def metrics_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return port


@pytest.mark.django_db(transaction=True)  # the fleet's gauges are read from the database at scrape time
def test_with_a_token_the_metrics_port_answers_only_who_sends_it(metrics_port: int) -> None:
    server = start_metrics_server(metrics_port, address="127.0.0.1", token="scrape-token")
    try:
        refused = scrape(metrics_port)
        wrong = scrape(metrics_port, "Bearer nope")
        served = scrape(metrics_port, "Bearer scrape-token")
    finally:
        server.shutdown()

    assert refused[0] == wrong[0] == 401
    assert served[0] == 200
    assert "courier_events_total" in served[1]


@pytest.mark.django_db(transaction=True)
def test_without_a_token_the_metrics_port_is_open_as_before(metrics_port: int) -> None:
    server = start_metrics_server(metrics_port, address="127.0.0.1", token="")
    try:
        assert scrape(metrics_port)[0] == 200
    finally:
        server.shutdown()
