from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from couriers import views
from couriers.api.health import HealthzView, ReadyzView

urlpatterns = [
    path("", views.landing, name="landing"),
    path("api/", RedirectView.as_view(pattern_name="api-root")),
    path("api/v1/", include("couriers.api.urls")),
    # The documentation is not throttled: a reader's browser fetches the page, its script and the schema at once,
    # and shares the anonymous allowance with the reader's own API calls (a 429 there was a blank page).
    path("api/schema/", SpectacularAPIView.as_view(throttle_classes=[]), name="schema"),
    # Split: Swagger UI's start-up script is a file of its own, so the docs need no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema", throttle_classes=[]), name="docs"),
    path("healthz", HealthzView.as_view(), name="healthz"),
    path("readyz", ReadyzView.as_view(), name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]
