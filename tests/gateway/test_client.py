"""default_order_client: the transport ORDER_SERVICE_TRANSPORT names, built once per process."""

import pytest

from gateway.client import default_order_client
from gateway.grpc_client import GrpcOrderClient
from gateway.http import HttpOrderClient


@pytest.fixture(autouse=True)
def fresh_client():
    default_order_client.cache_clear()
    yield
    default_order_client.cache_clear()


@pytest.mark.parametrize(("transport", "kind"), [("http", HttpOrderClient), ("grpc", GrpcOrderClient)])
def test_the_transport_setting_picks_the_client(settings, transport, kind):
    settings.ORDER_SERVICE_TRANSPORT = transport
    settings.ORDER_SERVICE_GRPC_TARGET = "127.0.0.1:50051"

    client = default_order_client()

    assert isinstance(client, kind)
    assert default_order_client() is client
