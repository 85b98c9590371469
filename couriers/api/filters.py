"""Query-string filters of the list endpoints. An invalid value answers 400 naming the parameter."""

from typing import Any

import django_filters
from django import forms
from django.db.models import F, OrderBy, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import filters, serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from couriers.api.choices import ChoiceFilter
from couriers.models import Courier, Delivery
from couriers.order_ids import validate_order_id
from couriers.selectors import delivery_disputed, delivery_overdue

BIGINT_MAX = 2**63 - 1


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class CourierFilter(django_filters.FilterSet):
    status = ChoiceFilter(choices=Courier.Status.choices, help_text="Only the couriers with this status.")
    transport_type = ChoiceFilter(choices=Courier.Transport.choices, help_text="Only the couriers moving so.")

    class Meta:
        model = Courier
        fields = ["status", "transport_type"]


class DeliveryFilter(django_filters.FilterSet):
    status = ChoiceFilter(choices=Delivery.Status.choices, help_text="Only the deliveries with this status.")
    # An integer filter, not a model choice: an unknown courier lists nothing rather than failing.
    courier = IntegerFilter(field_name="courier_id", min_value=1, max_value=BIGINT_MAX)
    order_id = django_filters.CharFilter(
        validators=[validate_order_id], help_text="Only the delivery of this order (service-order's id), exactly."
    )
    overdue = ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_overdue",
        help_text="true: assigned and past the deadline; false: all the others.",
    )

    disputed = ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_disputed",
        help_text="true: open, though an event announced the order's end that service-order's reads contradict.",
    )

    class Meta:
        model = Delivery
        fields = ["status", "courier", "order_id", "overdue", "disputed"]

    def filter_overdue(self, queryset: QuerySet[Delivery], name: str, value: str) -> QuerySet[Delivery]:
        return delivery_overdue(queryset, overdue=value == "true")

    def filter_disputed(self, queryset: QuerySet[Delivery], name: str, value: str) -> QuerySet[Delivery]:
        return delivery_disputed(queryset, disputed=value == "true")


class SearchFilter(filters.SearchFilter):
    """DRF's, with a rejected term (e.g. a NUL character) reported under the `search` parameter."""

    def get_search_terms(self, request: Request) -> list[str]:
        try:
            return super().get_search_terms(request)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({self.search_param: exc.detail}) from exc

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        searched = " and ".join(getattr(view, "search_fields", []))
        description = (
            f"Words to find in {searched}, case-insensitive: a row matches when each word is in one of them "
            '(space-separated; "quoted words" for one with spaces).'
        )
        return [
            {**parameter, "description": description} for parameter in super().get_schema_operation_parameters(view)
        ]


def _nulls_last(term: str) -> OrderBy:
    """Rows without a value (no deadline yet, no queue position) last either way, on every database (SQLite
    would put them first when ascending, PostgreSQL last)."""
    field = F(term.removeprefix("-"))
    return field.desc(nulls_last=True) if term.startswith("-") else field.asc(nulls_last=True)


class OrderingFilter(filters.OrderingFilter):
    """DRF's, with an unknown field a 400 naming the valid ones (DRF ignores it silently), the id as the
    last key so that pages never overlap on ties, and nulls last."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: APIView) -> QuerySet[Any]:
        return queryset.order_by(*map(_nulls_last, self.get_ordering(request, queryset, view)))

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: APIView) -> list[str]:
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not {"id", "-id"} & set(ordering):
            ordering.append("id")
        return ordering

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        fields = [name for name, _ in self.get_valid_fields(None, view, {})]
        terms = [term for name in fields for term in (name, f"-{name}")]
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": f"Fields to order by, comma-separated, each with - before it for descending "
                f"(e.g. `{fields[1]},-id`); ties are broken by id.",
                "style": "form",
                "explode": False,
                "schema": {"type": "array", "items": {"type": "string", "enum": terms}},
            }
        ]

    def remove_invalid_fields(
        self, queryset: QuerySet[Any], fields: list[str], view: APIView, request: Request
    ) -> list[str]:
        terms = [term for term in fields if term]
        valid = [name for name, _ in self.get_valid_fields(queryset, view, {"request": request})]
        unknown = [term for term in terms if term.removeprefix("-") not in valid]
        if unknown:
            raise serializers.ValidationError(
                {
                    self.ordering_param: [
                        f"Cannot order by {', '.join(unknown)}: order by one or more of {', '.join(valid)}, "
                        "comma-separated, each with - before it for descending."
                    ]
                }
            )
        return terms
