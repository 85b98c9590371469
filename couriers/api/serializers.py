"""Input serializers parse and validate; output serializers shape. Neither writes anything."""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from couriers.models import E164, Courier, Delivery

CLIENT_STATUSES = [Courier.Status.AVAILABLE, Courier.Status.PAUSED]  # busy is the dispatcher's


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, naming them, instead of silently dropping them."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        errors: dict[str, Any] = {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not unknown:
                raise
            errors = dict(exc.detail)
        if unknown:
            raise serializers.ValidationError({**errors, **{key: ["Unknown field."] for key in unknown}})
        return value


class CourierSerializer(serializers.ModelSerializer):
    active_delivery = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Id of the delivery the courier is on, or null."
    )

    class Meta:
        model = Courier
        fields = ["id", "name", "phone", "status", "transport_type", "active_delivery", "created_at", "updated_at"]
        read_only_fields = fields


class CourierInputSerializer(StrictSerializer):
    """A courier's writable fields. The view passes `instance` on update, for the uniqueness check."""

    name = serializers.CharField(max_length=200)
    phone = serializers.CharField(
        max_length=16,
        validators=[E164, UniqueValidator(Courier.objects.all(), message="A courier with this phone already exists.")],
        help_text="E.164: + and 10 to 15 digits. Unique.",
    )
    transport_type = serializers.ChoiceField(choices=Courier.Transport.choices)
    status = serializers.ChoiceField(
        choices=CLIENT_STATUSES,
        required=False,
        help_text="available or paused; busy is set by dispatch. Making a courier available hands it "
        "the oldest waiting order; a busy courier cannot be paused (409).",
    )


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "order_id",
            "courier",
            "status",
            "order_status",
            "order_checked_at",
            "assigned_at",
            "deadline",
            "finished_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderRefSerializer(StrictSerializer):
    # Order ids are service-order's, taken exactly as given: no trimming.
    order_id = serializers.CharField(max_length=255, trim_whitespace=False)


class ErrorBodySerializer(serializers.Serializer):
    """Documents the error body (for the schema only)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        # Declared here because a class attribute named `fields` would hide Serializer.fields.
        return {
            "code": serializers.CharField(help_text="Machine-readable, e.g. invalid, not_found, courier_busy."),
            "message": serializers.CharField(help_text="What went wrong, for a human."),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                help_text="For code=invalid: the messages of each offending field; empty otherwise.",
            ),
        }


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
