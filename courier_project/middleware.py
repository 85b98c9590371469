"""Middleware of the web process: probes that answer any Host, and the Content-Security-Policy header."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

# Carry no user data and are asked for by container IP or service name (load balancers, Prometheus).
HOSTLESS_VIEWS = frozenset({"healthz", "readyz", "metrics"})


class ProbesAnyHostMiddleware:
    """Serves the probes and /metrics before anything reads the Host header, so ALLOWED_HOSTS stays strict
    for everything else. Must come before CommonMiddleware, the first to validate the Host."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if match.url_name not in HOSTLESS_VIEWS:
            return self.get_response(request)
        response = match.func(request, *match.args, **match.kwargs)
        return response.render() if hasattr(response, "render") else response


class ContentSecurityPolicyMiddleware:
    """CONTENT_SECURITY_POLICY on the pages under CONTENT_SECURITY_POLICY_PATHS (the admin, the API docs)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path_info.startswith(settings.CONTENT_SECURITY_POLICY_PATHS):
            response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
