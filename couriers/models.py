"""Couriers and their deliveries. The database itself holds the dispatch invariants."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from couriers.phases import NOT_FOUND, Phase, read_phase

E164 = RegexValidator(r"^\+[0-9]{10,15}$", "Enter a phone number in E.164 form: + and 10 to 15 digits.")


class Courier(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "available"
        BUSY = "busy"
        PAUSED = "paused"

    class Transport(models.TextChoices):
        ON_FOOT = "on_foot", "On foot"
        SCOOTER = "scooter"
        CAR = "car"

    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=16, unique=True, validators=[E164])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AVAILABLE)
    transport_type = models.CharField(max_length=16, choices=Transport.choices)
    # Denormalised load of the day and idle time: dispatch orders by them under FOR UPDATE,
    # where PostgreSQL allows no aggregate.
    load_date = models.DateField(null=True, blank=True, editable=False)
    deliveries_on_load_date = models.PositiveIntegerField(default=0, editable=False)
    idle_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        permissions = [("view_courier_phone", "Can see couriers' phone numbers")]
        indexes = [models.Index(fields=["status", "load_date", "deliveries_on_load_date", "idle_since"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["available", "busy", "paused"]), name="courier_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(transport_type__in=["on_foot", "scooter", "car"]), name="courier_transport_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone})"


class OrderKnowledge(models.Model):
    """What we know of one order: the news about it, kept apart from what we did about it (its delivery).

    Every decision about an order reads this row, whatever path brought the news (a batch, the sweep, a
    dispatcher, a replay) and in whatever order it came: service-order's latest answer, an end an event
    announced that the answers contradict (a dispute, services/knowledge.py), and a dispatcher's verdict on
    it. An order service-order never had is known here (its 404) and has no delivery.
    """

    NOT_FOUND = NOT_FOUND  # read_status when service-order answered 404

    class Verdict(models.TextChoices):
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    order_id = models.CharField(max_length=255, unique=True)
    read_status = models.CharField(
        max_length=32, help_text="service-order's latest answer: the order's status, or not_found."
    )
    read_at = models.DateTimeField(help_text="When we asked for that answer: an older answer never replaces it.")
    end_announced = models.CharField(
        max_length=32, blank=True, help_text="An end an event announced while service-order read the order active."
    )
    end_announced_at = models.DateTimeField(
        null=True, blank=True, help_text="When we first saw that event: the dispute's grace counts from here."
    )
    verdict = models.CharField(
        max_length=16, blank=True, choices=Verdict.choices, help_text="A dispatcher's decision on the announced end."
    )
    verdict_at = models.DateTimeField(
        null=True, blank=True, help_text="Only an end event produced after this reopens a rejected dispute."
    )
    swept_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reconcile sweep last took the order up (checked or tried)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "order knowledge"
        indexes = [models.Index(fields=["end_announced_at"], condition=~Q(end_announced=""), name="order_disputes")]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_announced="") | Q(end_announced_at__isnull=False), name="order_end_announced_has_time"
            ),
            models.CheckConstraint(
                condition=Q(verdict="") | Q(verdict_at__isnull=False), name="order_verdict_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id} (read {self.read_status})"

    @property
    def disputed(self) -> bool:
        """An announced end stands against the latest answer, which reads the order active."""
        return bool(self.end_announced) and read_phase(self.read_status) is Phase.ACTIVE


class Delivery(models.Model):
    class Status(models.TextChoices):
        AWAITING_COURIER = "awaiting_courier"
        ASSIGNED = "assigned"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    OPEN = (Status.AWAITING_COURIER, Status.ASSIGNED)

    # The attribute `order_id` is the order's id: the knowledge row is keyed by it, and exists first.
    order = models.OneToOneField(
        OrderKnowledge, to_field="order_id", db_column="order_id", on_delete=models.PROTECT, related_name="delivery"
    )
    courier = models.ForeignKey(Courier, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices)
    assigned_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # One more at each change other teams hear of (couriers.services.outbox): a consumer drops an older event.
    version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        # Deliveries change only through dispatch: by hand, that is this one permission, not add/change/delete.
        permissions = [("dispatch_delivery", "Can assign, take the courier off or cancel a delivery by hand")]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["status", "deadline"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["courier"], condition=Q(status="assigned"), name="delivery_one_assigned_per_courier"
            ),
            models.CheckConstraint(
                condition=~Q(status="assigned") | Q(courier__isnull=False), name="delivery_assigned_has_courier"
            ),
            models.CheckConstraint(
                condition=~Q(status="awaiting_courier") | Q(courier__isnull=True),
                name="delivery_awaiting_has_no_courier",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["awaiting_courier", "assigned", "completed", "cancelled"]),
                name="delivery_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id} ({self.status})"

    @property
    def disputed(self) -> bool:
        """Open, though an event announced the order's end that service-order's reads contradict."""
        return self.status in self.OPEN and self.order.disputed

    @property
    def order_status(self) -> str:
        """service-order's latest answer about the order (its knowledge)."""
        return self.order.read_status


class OrderFailure(models.Model):
    """An order set aside after failing on its own (couriers.services.parked): its events, its attempts, its next.

    Keyed by order id, not by message: the events of one order are handled together, whatever their
    partitions and offsets, and its attempts are counted whichever consumer made them. The row holds the
    events the order's partitions moved past, so their offsets could be stored. It goes once they are
    processed; a given-up order's row stays, without events, for the window in which its later events are
    dead-lettered at once.
    """

    order_id = models.CharField(max_length=255, unique=True)
    attempts = models.PositiveIntegerField()
    last_error = models.TextField()
    events = models.JSONField(default=list, help_text="The events set aside: origin, status, the message itself.")
    retry_at = models.DateTimeField(null=True, db_index=True, help_text="When a consumer may take it up next.")
    given_up_at = models.DateTimeField(null=True, blank=True)
    first_failed_at = models.DateTimeField(auto_now_add=True)
    last_failed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"order {self.order_id}: {self.attempts} failed attempts"


class OutboxEvent(models.Model):
    """A delivery's change, written in the transaction that made it, until the relay published it to Kafka.

    The transactional outbox: no decision commits without its event, and no event exists without its
    committed decision. `payload` is the message as published (docs/events.md); rows are marked published
    once the broker acknowledged them, and pruned later.
    """

    event_id = models.UUIDField(unique=True)
    order_id = models.CharField(max_length=255)
    version = models.PositiveIntegerField()
    type = models.CharField(max_length=16)
    payload = models.JSONField()
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's work: the rows waiting, each order's oldest first.
            models.Index(
                fields=["order_id", "id"], condition=Q(published_at__isnull=True), name="outbox_waiting_by_order"
            ),
            models.Index(fields=["published_at"], name="outbox_published_at"),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id} v{self.version} {self.type}"
