"""The process-wide OrderClient: one pooled HTTP session shared by every caller."""

from functools import cache

from gateway.http import HttpOrderClient
from gateway.orders import OrderClient


@cache
def default_order_client() -> OrderClient:
    return HttpOrderClient.from_settings()
