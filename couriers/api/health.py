"""Probes for the orchestrator: no authentication, no throttling."""

import logging

from django.db import DatabaseError, connection
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from couriers.api.serializers import HealthSerializer

logger = logging.getLogger(__name__)


class JsonWhateverAccepted(BaseContentNegotiation):
    """Probers send any Accept header; the answer is JSON all the same."""

    def select_parser(self, request: Request, parsers: list) -> None:
        return None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class ProbeView(APIView):
    authentication_classes: list = []  # also keeps /healthz off the database (no session lookup)
    permission_classes = [AllowAny]
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]  # the browsable API would read the Host header, which probes never do
    content_negotiation_class = JsonWhateverAccepted


class HealthzView(ProbeView):
    @extend_schema(
        summary="Liveness: the process answers",
        operation_id="getLiveness",
        tags=["health"],
        auth=[],
        responses={200: HealthSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyzView(ProbeView):
    @extend_schema(
        summary="Readiness: the database answers",
        operation_id="getReadiness",
        tags=["health"],
        auth=[],
        responses={
            200: HealthSerializer,
            503: OpenApiResponse(HealthSerializer, description='{"status": "unavailable"}: no database.'),
        },
    )
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as exc:
            # One line per probe: during an outage a traceback every few seconds would bury the cause.
            logger.warning("readiness check: the database does not answer: %s", exc)
            return Response({"status": "unavailable"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"status": "ok"})
