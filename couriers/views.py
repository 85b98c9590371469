"""Plain Django views outside the API: the landing page and the Prometheus scrape endpoint."""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """/ (and the admin's "View site"): where the admin, the API and its documentation are."""
    return render(request, "couriers/landing.html")


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """This process's metrics and the fleet's (read from the database at scrape time)."""
    if not _may_scrape(request):
        return HttpResponse("metrics: not from this address without the token\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: HttpRequest) -> bool:
    """From METRICS_ALLOWED_NETWORKS, or with `Authorization: Bearer METRICS_TOKEN` from anywhere."""
    if settings.METRICS_TOKEN:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(sent.encode(), settings.METRICS_TOKEN.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)
