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
from couriers.api.permissions import may_see_phones
from couriers.models import Courier, Delivery
from couriers.selectors import delivery_disputed, delivery_overdue
from gateway.order_ids import validate_order_id

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


# Each term is one ILIKE per search field over the whole table: without a cap, one request of 2,000 terms held
# PostgreSQL for seconds. A courier's name is a few words and a phone one; a longer term cannot match a phone.
SEARCH_MAX_TERMS = 5
SEARCH_MAX_TERM_LENGTH = 50


class SearchFilter(filters.SearchFilter):
    """DRF's, capped at SEARCH_MAX_TERMS terms of SEARCH_MAX_TERM_LENGTH characters; a rejected term (too many,
    too long, a NUL character) is a 400 under the `search` parameter."""

    def get_search_terms(self, request: Request) -> list[str]:
        try:
            terms = super().get_search_terms(request)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({self.search_param: exc.detail}) from exc
        if len(terms) > SEARCH_MAX_TERMS or any(len(term) > SEARCH_MAX_TERM_LENGTH for term in terms):
            raise serializers.ValidationError(
                {
                    self.search_param: [
                        f"At most {SEARCH_MAX_TERMS} terms of at most {SEARCH_MAX_TERM_LENGTH} characters each."
                    ]
                }
            )
        return terms

    def get_search_fields(self, view: APIView, request: Request) -> list[str]:
        fields = super().get_search_fields(view, request) or []
        return fields if may_see_phones(request) else [field for field in fields if field != "phone"]

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
        # Every field, phone included: the schema is one for all (a phone needs view_courier_phone).
        fields = [name for name, _ in super().get_valid_fields(None, view, {})]
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

    def get_valid_fields(
        self, queryset: QuerySet[Any], view: APIView, context: dict[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        valid = super().get_valid_fields(queryset, view, context or {})
        # Sorting by a phone number one may not see would reveal it, digit by digit.
        if may_see_phones((context or {}).get("request")):
            return valid
        return [(name, label) for name, label in valid if name != "phone"]

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

    def get_search_fields(self, view: APIView, request: Request) -> list[str]:
        fields = super().get_search_fields(view, request) or []
        return fields if may_see_phones(request) else [field for field in fields if field != "phone"]
