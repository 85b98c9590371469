"""The process-wide OrderClient: one pooled HTTP session shared by every caller."""

from functools import cache

from gateway import metrics
from gateway.http import HttpOrderClient
from gateway.orders import OrderClient


@cache
def default_order_client() -> OrderClient:
    return HttpOrderClient.from_settings(on_attempt=metrics.record_attempt, sleep=metrics.sleep_before_retry)
