"""Input serializers parse and validate; output serializers shape. Neither writes anything."""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from couriers.api.choices import ChoiceField
from couriers.api.permissions import may_see_phones
from couriers.models import E164, Courier, Delivery
from couriers.order_ids import MAX_LENGTH as MAX_ORDER_ID_LENGTH
from couriers.order_ids import validate_order_id

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


PHONE_HELP = "Left out for users without the permission couriers.view_courier_phone (personal data)."


class PhoneForPermittedSerializer(serializers.ModelSerializer):
    """Leaves `phone` out for whoever lacks the permission to see couriers' phone numbers (personal data)."""

    def to_representation(self, instance: Courier) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not may_see_phones(self.context.get("request")):
            data.pop("phone", None)
        return data


class CourierSerializer(PhoneForPermittedSerializer):
    active_delivery = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Id of the delivery the courier is on, or null."
    )

    class Meta:
        model = Courier
        fields = ["id", "name", "phone", "status", "transport_type", "active_delivery", "created_at", "updated_at"]
        read_only_fields = fields
        extra_kwargs = {"phone": {"help_text": PHONE_HELP}}


class CourierInputSerializer(StrictSerializer):
    """A courier's writable fields. The view passes `instance` on update, for the uniqueness check."""

    name = serializers.CharField(max_length=200)
    phone = serializers.CharField(
        max_length=16,
        validators=[E164, UniqueValidator(Courier.objects.all(), message="A courier with this phone already exists.")],
        help_text="E.164: + and 10 to 15 digits. Unique.",
    )
    transport_type = ChoiceField(choices=Courier.Transport.choices)
    status = ChoiceField(
        choices=CLIENT_STATUSES,
        required=False,
        help_text="available or paused; busy is set by dispatch. Making a courier available hands it "
        "the oldest waiting order; a busy courier cannot be paused (409).",
    )


class DeliveryCourierSerializer(PhoneForPermittedSerializer):
    """Who brings the order: enough to call the courier without a second request."""

    class Meta:
        model = Courier
        fields = ["id", "name", "phone", "transport_type"]
        read_only_fields = fields
        extra_kwargs = {"phone": {"help_text": PHONE_HELP}}


DELIVERY_STATUS_HELP = (
    "Ours: awaiting_courier (in the queue), assigned, completed, cancelled (two l's). Not service-order's "
    "vocabulary, which is in order_status."
)
ORDER_STATUS_HELP = (
    "service-order's status of the order, last time we asked, in its words: created, pending, confirmed, "
    "cooking, delivering, updated (active: the delivery is awaiting_courier or assigned); completed, delivered "
    "(our completed); canceled (one l), cancelled, deleted (our cancelled). An unknown word is stored as it came."
)


class DeliverySerializer(serializers.ModelSerializer):
    courier = DeliveryCourierSerializer(read_only=True, allow_null=True, help_text="null while none is assigned.")
    status = serializers.ChoiceField(choices=Delivery.Status.choices, read_only=True, help_text=DELIVERY_STATUS_HELP)
    order_status = serializers.CharField(read_only=True, help_text=ORDER_STATUS_HELP)
    assigned_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the current courier got it; null while none is assigned."
    )
    deadline = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="The current courier's deadline; null while none is assigned."
    )
    overdue = serializers.BooleanField(source="is_overdue", read_only=True, help_text="Assigned and past its deadline.")
    queue_position = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="While awaiting_courier: 1 for the next order to get a free courier (first come first served); "
        "null otherwise.",
    )

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
            "overdue",
            "queue_position",
            "finished_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderRefSerializer(StrictSerializer):
    # Order ids are service-order's, taken exactly as given: no trimming.
    order_id = serializers.CharField(
        trim_whitespace=False,
        validators=[validate_order_id],
        help_text=f"service-order's id of the order: 1-{MAX_ORDER_ID_LENGTH} printable characters.",
    )


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


class ApiRootSerializer(serializers.Serializer):
    """Documents /api/v1/ (for the schema only)."""

    couriers = serializers.URLField()
    deliveries = serializers.URLField()
    order_delivery = serializers.CharField(help_text="A URL template: put in the percent-encoded order id.")
    assign = serializers.URLField()
    unassign = serializers.URLField()
    cancel = serializers.URLField()
    schema = serializers.URLField()
    docs = serializers.URLField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
