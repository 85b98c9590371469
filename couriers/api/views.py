"""API views: parse the request, call one service or selector, shape the answer. Errors go to
couriers.api.errors.exception_handler, so no view catches anything."""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, HttpResponsePermanentRedirect
from django.urls import Resolver404, resolve, reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from couriers import selectors, services
from couriers.api.conditional import check_if_match, read_answer, tagged
from couriers.api.filters import CourierFilter, DeliveryFilter, OrderingFilter, SearchFilter
from couriers.api.parsers import PARSER_CLASSES
from couriers.api.permissions import (
    ADD_COURIER,
    CHANGE_COURIER,
    DELETE_COURIER,
    DISPATCH,
    VIEW_COURIER,
    VIEW_DELIVERY,
    ReadOrModelPermission,
)
from couriers.api.query import StrictQueryParameters
from couriers.api.schema import (
    BODY,
    CONDITIONAL_READ,
    CONDITIONAL_WRITE,
    IF_MATCH,
    NOT_MODIFIED,
    error_responses,
)
from couriers.api.serializers import (
    ApiRootSerializer,
    CourierInputSerializer,
    CourierSerializer,
    DeliverySerializer,
    DisputeSettlementSerializer,
    OrderRefSerializer,
)
from couriers.api.throttling import SearchRateThrottle, ThrottleUnauthenticatedFirst
from couriers.errors import NotFound as DomainNotFound
from couriers.models import Courier, Delivery
from gateway.client import default_order_client
from gateway.order_ids import validate_order_id


class ApiPolicy(StrictQueryParameters, ThrottleUnauthenticatedFirst):
    """What every /api/v1/ view shares: who may do what, how often, which bodies and query strings it reads."""

    permission_classes = [ReadOrModelPermission]
    read_permission: str | None = None
    write_permissions: dict[str, str] = {}
    parser_classes = PARSER_CLASSES


class NamedNotFound:
    """An unknown id answers `<noun>_not_found`, as an unknown order's delivery does, not a bare not_found."""

    noun: str

    def get_object(self) -> Any:
        try:
            return super().get_object()  # type: ignore[misc]
        except Http404 as exc:
            pk = self.kwargs["pk"]  # type: ignore[attr-defined]
            raise DomainNotFound(f"{self.noun} {pk} does not exist", code=f"{self.noun}_not_found") from exc


LIST_400 = (
    "An invalid query parameter; `error.fields` names it and says what is valid: a filter's choices, the fields "
    "`ordering` takes, `page_size` from 1 to 1000, `page` from 1 to the last page."
)


def _validated(serializer: Serializer) -> dict[str, Any]:
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _courier_answer(request: Request, courier_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    # Read back through the selector: a write may have handed the courier a delivery.
    courier = selectors.courier_list().get(pk=courier_id)
    return tagged(CourierSerializer(courier, context={"request": request}).data, status_code)


def _delivery_answer(request: Request, order_id: str, status_code: int = status.HTTP_200_OK) -> Response:
    # Read back through the selector, for the courier, `overdue` and `queue_position`.
    delivery = selectors.delivery_get_for_order(order_id=order_id)
    return tagged(DeliverySerializer(delivery, context={"request": request}).data, status_code)


def _write_if_match(request: Request, order_id: str, write: Callable[[], Delivery]) -> Delivery:
    """`write` the order's delivery in one transaction with the If-Match check, under the row lock both hold."""
    with transaction.atomic():
        _check_delivery_if_match(request, order_id)
        return write()


def _check_delivery_if_match(request: Request, order_id: str) -> None:
    """If-Match against the order's delivery, locked until the caller's transaction ends. No delivery: the
    service's 404 comes first (a precondition never turns a 404 into a 412)."""
    delivery = selectors.delivery_list().select_for_update(of=("self",)).filter(order_id=order_id).first()
    if delivery is not None:
        check_if_match(request, DeliverySerializer(delivery, context={"request": request}).data)


def _checked_order_id(order_id: str) -> str:
    """A path's order id under the same rule as a body's: 400 naming `order_id`, not 404."""
    try:
        validate_order_id(order_id)
    except DjangoValidationError as exc:
        raise ValidationError({"order_id": exc.messages}) from exc
    return order_id


@extend_schema_view(
    get=extend_schema(
        summary="List couriers",
        operation_id="listCouriers",
        tags=["couriers"],
        description="Paginated; filter by status and transport type, search name and phone, order by any listed field.",
        responses={200: CourierSerializer(many=True), **error_responses(400, e400=LIST_400)},
    ),
)
class CourierListView(ApiPolicy, generics.ListAPIView):
    read_permission = VIEW_COURIER
    write_permissions = {"POST": ADD_COURIER}
    serializer_class = CourierSerializer
    filter_backends = [DjangoFilterBackend, SearchFilter, OrderingFilter]
    filterset_class = CourierFilter
    search_fields = ["name", "phone"]
    throttle_classes = [*api_settings.DEFAULT_THROTTLE_CLASSES, SearchRateThrottle]
    ordering_fields = ["id", "name", "phone", "status", "transport_type", "created_at", "updated_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Courier]:
        return selectors.courier_list()

    @extend_schema(
        summary="Create a courier",
        operation_id="createCourier",
        tags=["couriers"],
        description="A new courier is available (and takes the oldest waiting order at once) or paused.",
        request=CourierInputSerializer,
        responses={
            201: OpenApiResponse(CourierSerializer, description="Created; `Location` is the courier's URL."),
            **error_responses(*BODY, 403),
        },
    )
    def post(self, request: Request) -> Response:
        data = _validated(CourierInputSerializer(data=request.data))
        courier = services.courier_create(**data)
        response = _courier_answer(request, courier.pk, status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(reverse("courier-detail", args=[courier.pk]))
        return response


@extend_schema_view(
    get=extend_schema(
        summary="Get a courier",
        operation_id="getCourier",
        tags=["couriers"],
        description="With its `ETag`: send it back in `If-None-Match` to be told 304 if nothing changed, or in "
        "`If-Match` on a change so that it fails (412) if someone changed the courier in between.",
        parameters=CONDITIONAL_READ,
        responses={200: CourierSerializer, **NOT_MODIFIED, **error_responses(404)},
    ),
)
class CourierDetailView(ApiPolicy, NamedNotFound, generics.RetrieveAPIView):
    noun = "courier"
    read_permission = VIEW_COURIER
    write_permissions = {"PUT": CHANGE_COURIER, "PATCH": CHANGE_COURIER, "DELETE": DELETE_COURIER}
    serializer_class = CourierSerializer

    def get_queryset(self) -> QuerySet[Courier]:
        couriers = selectors.courier_list()
        # A write locks the row it checks If-Match against, until it commits.
        return couriers if self.request.method in SAFE_METHODS else couriers.select_for_update(of=("self",))

    def get(self, request: Request, pk: int) -> Response:
        return read_answer(request, self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Replace a courier's details",
        operation_id="replaceCourier",
        tags=["couriers"],
        description="name, phone and transport_type are required; status is optional (available or paused).",
        request=CourierInputSerializer,
        parameters=CONDITIONAL_WRITE,
        responses={
            200: CourierSerializer,
            **error_responses(*BODY, 403, 404, 409, 412, e409="Pausing a busy courier."),
        },
    )
    def put(self, request: Request, pk: int) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change some of a courier's details or its status",
        operation_id="updateCourier",
        tags=["couriers"],
        description="Only the fields given change. Making a courier available hands it the oldest waiting order.",
        request=CourierInputSerializer,
        parameters=CONDITIONAL_WRITE,
        responses={
            200: CourierSerializer,
            **error_responses(*BODY, 403, 404, 409, 412, e409="Pausing a busy courier."),
        },
    )
    def patch(self, request: Request, pk: int) -> Response:
        return self._update(request, partial=True)

    @extend_schema(
        summary="Delete a courier",
        operation_id="deleteCourier",
        tags=["couriers"],
        description="Only a courier that never had a delivery: the others keep their history (pause them).",
        parameters=[IF_MATCH],
        responses={204: None, **error_responses(403, 404, 409, 412, e409="The courier has deliveries.")},
    )
    @transaction.atomic
    def delete(self, request: Request, pk: int) -> Response:
        services.courier_delete(courier_id=self._current(request).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, *, partial: bool) -> Response:
        with transaction.atomic():
            courier = self._current(request)
            data = _validated(CourierInputSerializer(courier, data=request.data, partial=partial))
            services.courier_update(courier_id=courier.pk, **data)
        return _courier_answer(request, courier.pk)

    def _current(self, request: Request) -> Courier:
        """The courier about to be written, locked, once If-Match (if sent) matches it."""
        courier = self.get_object()
        check_if_match(request, self.get_serializer(courier).data)
        return courier


@extend_schema_view(
    get=extend_schema(
        summary="List deliveries",
        operation_id="listDeliveries",
        tags=["deliveries"],
        parameters=[
            OpenApiParameter(
                "courier", int, description="Only the deliveries of the courier with this id (current and past)."
            )
        ],
        description="Paginated, newest first; with `status=awaiting_courier`, the waiting queue in the order it "
        "is served (`queue_position` 1 first). Filter by status, courier, order_id and overdue.",
        responses={200: DeliverySerializer(many=True), **error_responses(400, e400=LIST_400)},
    ),
)
class DeliveryListView(ApiPolicy, generics.ListAPIView):
    read_permission = VIEW_DELIVERY
    serializer_class = DeliverySerializer
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = DeliveryFilter
    ordering_fields = [
        "id",
        "status",
        "queue_position",
        "assigned_at",
        "deadline",
        "finished_at",
        "created_at",
        "updated_at",
    ]

    @property
    def ordering(self) -> list[str]:
        """Newest first; the waiting orders alone in the order they will be served."""
        waiting = self.request.query_params.get("status") == Delivery.Status.AWAITING_COURIER
        return ["queue_position"] if waiting else ["-id"]

    def get_queryset(self) -> QuerySet[Delivery]:
        return selectors.delivery_list()


@extend_schema_view(
    get=extend_schema(
        summary="Get a delivery",
        operation_id="getDelivery",
        tags=["deliveries"],
        description="With its `ETag`, as for a courier; the same tag as the order's delivery.",
        parameters=CONDITIONAL_READ,
        responses={200: DeliverySerializer, **NOT_MODIFIED, **error_responses(404)},
    ),
)
class DeliveryDetailView(ApiPolicy, NamedNotFound, generics.RetrieveAPIView):
    noun = "delivery"
    read_permission = VIEW_DELIVERY
    serializer_class = DeliverySerializer

    def get_queryset(self) -> QuerySet[Delivery]:
        return selectors.delivery_list()

    def get(self, request: Request, pk: int) -> Response:
        return read_answer(request, self.get_serializer(self.get_object()).data)


ORDER_ID_PATH = OpenApiParameter(
    "order_id",
    str,
    OpenApiParameter.PATH,
    description="service-order's id of the order: 1-255 printable characters, percent-encoded.",
)


class OrderDeliveryView(ApiPolicy, APIView):
    read_permission = VIEW_DELIVERY

    @extend_schema(
        summary="Get the delivery of an order",
        operation_id="getOrderDelivery",
        tags=["deliveries"],
        description="Who brings order X, and by when: the delivery with its courier embedded.",
        parameters=[ORDER_ID_PATH, *CONDITIONAL_READ],
        responses={
            200: DeliverySerializer,
            **NOT_MODIFIED,
            **error_responses(
                400, 404, e400="The order id breaks the rule of order ids.", e404="The order has no delivery."
            ),
        },
    )
    def get(self, request: Request, order_id: str) -> Response:
        delivery = selectors.delivery_get_for_order(order_id=_checked_order_id(order_id))
        return read_answer(request, DeliverySerializer(delivery, context={"request": request}).data)


_ORDER_REF_400 = "Invalid body (`error.fields.order_id` says why: empty, over 255 characters, not printable)."


def _delivery_errors(e409: str) -> dict[int, OpenApiResponse]:
    """The errors of a write naming an order that has a delivery."""
    return error_responses(*BODY, 403, 404, 409, 412, e400=_ORDER_REF_400, e404="The order has no delivery.", e409=e409)


def _dispatch_answer(request: Request, delivery: Delivery) -> Response:
    """200 when the order has a courier; 202 when it waits for one, at its `queue_position`. Both from the
    delivery read back: the matching step after the service's commit may have given it a courier."""
    delivery = selectors.delivery_get_for_order(order_id=delivery.order_id)
    waits = delivery.status == Delivery.Status.AWAITING_COURIER
    return Response(
        DeliverySerializer(delivery, context={"request": request}).data,
        status=status.HTTP_202_ACCEPTED if waits else status.HTTP_200_OK,
    )


_ASSIGN_ERRORS = error_responses(
    *BODY,
    403,
    404,
    409,
    502,
    503,
    e400=_ORDER_REF_400,
    e404="service-order has no such order (order_not_found).",
    e409="The order is not active (the message gives its status).",
    e503="service-order (order_service_unavailable) or the database (database_unavailable) is unavailable: "
    "try again later.",
)


class DeliveryAssignView(ApiPolicy, APIView):
    write_permissions = {"POST": DISPATCH}

    @extend_schema(
        summary="Give an order a courier",
        operation_id="assignDelivery",
        tags=["dispatch"],
        description="Asks service-order for the order's status first. An active order gets the least loaded free "
        "courier (200, status assigned), or waits for one: 202, status awaiting_courier and its `queue_position` "
        "(first come first served). An order that already has a courier keeps it (200).",
        request=OrderRefSerializer,
        responses={
            200: OpenApiResponse(DeliverySerializer, description="The order has a courier."),
            202: OpenApiResponse(
                DeliverySerializer, description="No courier is free: the order waits, at `queue_position`."
            ),
            **_ASSIGN_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        data = _validated(OrderRefSerializer(data=request.data))
        return _dispatch_answer(
            request, services.delivery_assign(order_id=data["order_id"], client=default_order_client())
        )


class DeliveryUnassignView(ApiPolicy, APIView):
    write_permissions = {"POST": DISPATCH}

    @extend_schema(
        summary="Take the courier off an order",
        operation_id="unassignDelivery",
        tags=["dispatch"],
        description="The order goes back to the queue and keeps its place there (first come first served by "
        "arrival): it gets another courier at once if one is free (200, assigned), else it waits (202, "
        "awaiting_courier, `queue_position`). The courier taken off is paused; make it available when it can "
        "take orders again. This never cancels: cancelling is `POST /api/v1/deliveries/cancel/`.",
        request=OrderRefSerializer,
        parameters=CONDITIONAL_WRITE,
        responses={
            200: OpenApiResponse(DeliverySerializer, description="Another courier took the order at once."),
            202: OpenApiResponse(DeliverySerializer, description="The order waits for a courier, at `queue_position`."),
            **_delivery_errors(
                "The delivery is finished (delivery_finished) or waits without a courier (delivery_not_assigned)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = _validated(OrderRefSerializer(data=request.data))
        delivery = _write_if_match(
            request, data["order_id"], lambda: services.delivery_unassign(order_id=data["order_id"])
        )
        return _dispatch_answer(request, delivery)


class DeliveryCancelView(ApiPolicy, APIView):
    write_permissions = {"POST": DISPATCH}

    @extend_schema(
        summary="Cancel an order's delivery",
        operation_id="cancelDelivery",
        tags=["dispatch"],
        description="The delivery ends as cancelled, whatever service-order says of the order, and its courier "
        "takes the oldest waiting order. A later assign brings it back if the order is still active.",
        request=OrderRefSerializer,
        parameters=CONDITIONAL_WRITE,
        responses={
            200: DeliverySerializer,
            **_delivery_errors("The delivery is already finished."),
        },
    )
    def post(self, request: Request) -> Response:
        data = _validated(OrderRefSerializer(data=request.data))
        delivery = _write_if_match(
            request, data["order_id"], lambda: services.delivery_cancel(order_id=data["order_id"])
        )
        return _delivery_answer(request, delivery.order_id)


class DeliverySettleDisputeView(ApiPolicy, APIView):
    write_permissions = {"POST": DISPATCH}

    @extend_schema(
        summary="Settle a disputed delivery by hand",
        operation_id="settleDeliveryDispute",
        tags=["dispatch"],
        description="For a delivery whose order an event announced ended while service-order's reads say it is "
        "active (`disputed`). accept=true: the announced end stands, the delivery ends as it said and its courier "
        "takes the oldest waiting order; accept=false: the end is rejected and the delivery goes on.",
        request=DisputeSettlementSerializer,
        parameters=CONDITIONAL_WRITE,
        responses={200: DeliverySerializer, **_delivery_errors("The delivery is not disputed.")},
    )
    def post(self, request: Request) -> Response:
        data = _validated(DisputeSettlementSerializer(data=request.data))
        delivery = _write_if_match(
            request,
            data["order_id"],
            lambda: services.delivery_dispute_settle(order_id=data["order_id"], accept=data["accept"]),
        )
        return _delivery_answer(request, delivery.order_id)


class ApiRootView(ApiPolicy, APIView):
    @extend_schema(
        summary="The API's resources",
        operation_id="getApiRoot",
        tags=["api"],
        description="Each resource's URL; the schema and its documentation.",
        responses={200: ApiRootSerializer, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        def url(name: str) -> str:
            return request.build_absolute_uri(reverse(name))

        return Response(
            {
                "couriers": url("courier-list"),
                "deliveries": url("delivery-list"),
                "order_delivery": url("api-root") + "orders/{order_id}/delivery/",
                "assign": url("delivery-assign"),
                "unassign": url("delivery-unassign"),
                "cancel": url("delivery-cancel"),
                "settle_dispute": url("delivery-settle-dispute"),
                "schema": url("schema"),
                "docs": url("docs"),
            }
        )


@extend_schema(exclude=True)
class NotFoundView(ThrottleUnauthenticatedFirst, APIView):
    """Any other path under /api/v1/: the API's 404 (after authentication), not Django's HTML page. A path
    that only lacks its final slash is redirected on a read, and named in the 404 of any other method (a
    redirected POST would lose its body with many clients)."""

    permission_classes = [IsAuthenticated]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        slashed = _slashed_path(request)
        if slashed is None:
            raise NotFound()  # here rather than in a handler, so that every method gets it
        if request.method not in ("GET", "HEAD"):
            raise NotFound(f"Not found: the URL is {slashed} (with the final slash).")

    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        """Reached only by a read of a path that lacks its final slash (initial refuses the rest)."""
        return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))


def _slashed_path(request: Request) -> str | None:
    """The path with a final slash, if that one is the API's; else None."""
    path = request.path_info
    if path.endswith("/"):
        return None
    try:
        match = resolve(path + "/")
    except Resolver404:
        return None
    return None if getattr(match.func, "view_class", None) is NotFoundView else request.path + "/"
