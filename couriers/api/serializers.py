"""Input serializers parse and validate; output serializers shape. Neither writes anything."""

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from couriers.api.choices import ChoiceField
from couriers.api.errors import ERROR_CODES
from couriers.api.permissions import may_see_phones
from couriers.models import E164, Courier, Delivery
from gateway.order_ids import ALPHABET as ORDER_ID_ALPHABET
from gateway.order_ids import MAX_LENGTH as MAX_ORDER_ID_LENGTH
from gateway.order_ids import validate_order_id

CLIENT_STATUSES = [Courier.Status.AVAILABLE, Courier.Status.PAUSED]  # busy is the dispatcher's


class StrictSerializer(serializers.Serializer):
    """A field not listed here is refused, by name (400), rather than ignored."""

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


class StringField(serializers.CharField):
    """A JSON string only: DRF's CharField would take 123 as "123" and 1e400 as "inf"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class JsonBooleanField(serializers.BooleanField):
    """JSON true or false only: DRF's BooleanField would take "yes", "0" or 1."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


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


# A courier's writable fields. The view passes `instance` on update, for the uniqueness check.
class CourierInputSerializer(StrictSerializer):
    name = StringField(max_length=200)
    phone = StringField(
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
    order_id = serializers.CharField(read_only=True, help_text="service-order's id of the order.")
    courier = DeliveryCourierSerializer(read_only=True, allow_null=True, help_text="null while none is assigned.")
    status = serializers.ChoiceField(choices=Delivery.Status.choices, read_only=True, help_text=DELIVERY_STATUS_HELP)
    # What we know of the order (its knowledge), beside what we do about it.
    order_status = serializers.CharField(source="order.read_status", read_only=True, help_text=ORDER_STATUS_HELP)
    order_checked_at = serializers.DateTimeField(
        source="order.read_at", read_only=True, help_text="When we last asked service-order about the order."
    )
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

    disputed = serializers.BooleanField(
        read_only=True,
        help_text="Open, though an event announced the order's end (`end_announced`) that service-order's reads "
        "contradict: it ends by the rule once DISPUTE_GRACE has passed since `end_announced_at`, or by a dispatcher.",
    )
    end_announced = serializers.CharField(
        source="order.end_announced",
        read_only=True,
        help_text="The end an event announced while service-order read the order active; empty if none (or "
        "rejected by a dispatcher).",
    )
    end_announced_at = serializers.DateTimeField(
        source="order.end_announced_at",
        read_only=True,
        allow_null=True,
        help_text="When that event was first seen; null if none.",
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
            "disputed",
            "end_announced",
            "end_announced_at",
            "finished_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderRefSerializer(StrictSerializer):
    # Order ids are service-order's, taken exactly as given: no trimming.
    order_id = StringField(
        trim_whitespace=False,
        validators=[validate_order_id],
        help_text=f"service-order's id of the order: 1-{MAX_ORDER_ID_LENGTH} of {ORDER_ID_ALPHABET}.",
    )


class DisputeSettlementSerializer(OrderRefSerializer):
    accept = JsonBooleanField(
        help_text="true: the announced end stands (the delivery ends, its courier is freed); false: it is rejected "
        "and the delivery goes on."
    )


# The error body, documented for the schema (the exception handler writes it).
@extend_schema_serializer(component_name="ErrorBody")
class ErrorBodySerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        # Declared here because a class attribute named `fields` would hide Serializer.fields.
        return {
            "code": serializers.ChoiceField(
                choices=list(ERROR_CODES),
                help_text="Machine-readable: "
                + "; ".join(f"`{code}`: {meaning}" for code, meaning in ERROR_CODES.items())
                + ".",
            ),
            "message": serializers.CharField(help_text="What went wrong, for a human."),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                help_text="For code=invalid: the messages of each offending field; empty otherwise.",
            ),
        }


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


# The resources of /api/v1/, documented for the schema.
class ApiRootSerializer(serializers.Serializer):
    couriers = serializers.URLField()
    deliveries = serializers.URLField()
    order_delivery = serializers.CharField(help_text="A URL template: put in the percent-encoded order id.")
    assign = serializers.URLField()
    unassign = serializers.URLField()
    cancel = serializers.URLField()
    settle_dispute = serializers.URLField()
    schema = serializers.URLField()
    docs = serializers.URLField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
