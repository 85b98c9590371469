"""The process-wide OrderClient: one pooled HTTP connection pool, or one gRPC channel, shared by every caller."""

from functools import cache

from django.conf import settings

from gateway import metrics
from gateway.orders import OrderClient


@cache
def default_order_client() -> OrderClient:
    reporting = {"on_attempt": metrics.record_attempt, "sleep": metrics.sleep_before_retry}
    if settings.ORDER_SERVICE_TRANSPORT == "grpc":
        from gateway.grpc_client import GrpcOrderClient  # grpcio loads only where gRPC is used

        return GrpcOrderClient.from_settings(**reporting)
    from gateway.http import HttpOrderClient

    return HttpOrderClient.from_settings(**reporting)
