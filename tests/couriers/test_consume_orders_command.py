"""consume_orders' own options: where its metrics server listens."""

from unittest import mock

import pytest
from django.core.management import call_command


class Served(Exception):
    """Stops the command right after it started its metrics server."""


def test_metrics_server_listens_at_the_configured_address(settings: object) -> None:
    settings.CONSUMER_METRICS_ADDRESS = "10.9.8.7"
    target = "couriers.management.commands.consume_orders.start_http_server"

    with mock.patch(target, side_effect=Served) as start, pytest.raises(Served):
        call_command("consume_orders", "--metrics-port", "9100")

    start.assert_called_once_with(9100, addr="10.9.8.7")
