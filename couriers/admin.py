"""The operators' admin: reads through selectors, every change through the services."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from couriers import selectors, services
from couriers.errors import DispatchError
from couriers.models import Courier, Delivery

COLOURS = {
    Courier.Status.AVAILABLE: "#2e7d32",
    Courier.Status.BUSY: "#e65100",
    Courier.Status.PAUSED: "#757575",
    Delivery.Status.AWAITING_COURIER: "#b26a00",
    Delivery.Status.ASSIGNED: "#1565c0",
    Delivery.Status.COMPLETED: "#2e7d32",
    Delivery.Status.CANCELLED: "#757575",
}
OVERDUE_COLOUR = "#ba2121"
INLINE_DELIVERIES = 20


def _label(text: str, colour: str) -> SafeString:
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 8px;border-radius:9px;white-space:nowrap">{}</span>',
        colour,
        text,
    )


def _status_label(status: str) -> SafeString:
    return _label(status.replace("_", " "), COLOURS.get(status, "#757575"))


def _fleet_summary() -> str:
    counts = selectors.fleet_counts()
    couriers = " · ".join(f"{n} {status}" for status, n in counts.couriers_by_status.items())
    return f"Couriers: {couriers}. Orders waiting for a courier: {counts.waiting}. Overdue: {counts.overdue}."


# --- Couriers -------------------------------------------------------------------


class RecentDeliveriesFormSet(BaseInlineFormSet):
    """Only the latest deliveries: a courier's history can run to thousands."""

    def get_queryset(self) -> QuerySet[Delivery]:
        if not hasattr(self, "_recent"):
            self._recent = super().get_queryset()[:INLINE_DELIVERIES]
        return self._recent


class RecentDeliveryInline(admin.TabularInline):
    model = Delivery
    formset = RecentDeliveriesFormSet
    verbose_name_plural = f"latest deliveries (up to {INLINE_DELIVERIES}; all of them through the link above)"
    fields = ["order_id", "status_label", "order_status", "assigned_at", "deadline", "finished_at"]
    readonly_fields = fields
    ordering = ["-id"]
    extra = 0
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status")
    def status_label(self, delivery: Delivery) -> SafeString:
        return _status_label(delivery.status)


@admin.register(Courier)
class CourierAdmin(admin.ModelAdmin):
    list_display = ["name", "phone", "status_label", "transport_type", "current_delivery", "deliveries_today"]
    list_filter = ["status", "transport_type"]
    search_fields = ["name", "phone"]
    list_per_page = 50
    fields = ["name", "phone", "transport_type", "status_label", "all_deliveries", "created_at", "updated_at"]
    readonly_fields = ["status_label", "all_deliveries", "created_at", "updated_at"]
    actions = ["pause", "make_available"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Courier]:
        return selectors.courier_admin_list()

    def get_inlines(self, request: HttpRequest, obj: Courier | None) -> list[type[admin.TabularInline]]:
        return [RecentDeliveryInline] if obj else []

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Deletion one courier at a time, from its page, where a refusal can be explained.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": _fleet_summary()})

    @admin.display(description="status", ordering="status")
    def status_label(self, courier: Courier) -> SafeString:
        return _status_label(courier.status)

    @admin.display(description="current delivery", ordering="active_order_id")
    def current_delivery(self, courier: Courier) -> SafeString | str:
        if courier.active_delivery is None:
            return "—"
        url = reverse("admin:couriers_delivery_change", args=[courier.active_delivery])
        return format_html('<a href="{}">order {}</a>', url, courier.active_order_id)

    @admin.display(description="assigned today", ordering="deliveries_today")
    def deliveries_today(self, courier: Courier) -> int:
        return courier.deliveries_today

    @admin.display(description="deliveries")
    def all_deliveries(self, courier: Courier) -> SafeString | str:
        if courier.pk is None:
            return "—"
        url = reverse("admin:couriers_delivery_changelist") + f"?courier__id__exact={courier.pk}"
        return format_html('<a href="{}">all {} deliveries</a>', url, courier.deliveries.count())

    def save_model(self, request: HttpRequest, obj: Courier, form: Any, change: bool) -> None:
        details = {field: form.cleaned_data[field] for field in ("name", "phone", "transport_type")}
        saved = services.courier_update(courier_id=obj.pk, **details) if change else services.courier_create(**details)
        obj.pk = saved.pk
        obj.refresh_from_db()  # the admin logs and redirects with obj

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        # Django's own page would list every protected delivery; say why instead, before any confirmation.
        if object_id.isdigit() and selectors.courier_has_deliveries(courier_id=int(object_id)):
            self.message_user(
                request,
                "This courier cannot be deleted: a courier with deliveries keeps its history. Pause it instead.",
                messages.ERROR,
            )
            return redirect("admin:couriers_courier_change", object_id)
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request: HttpRequest, obj: Courier) -> None:
        services.courier_delete(courier_id=obj.pk)

    @admin.action(description="Pause the selected couriers", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Courier]) -> None:
        done = self._each(request, queryset, services.courier_pause)
        if done:
            self.message_user(request, f"Paused {len(done)} courier(s).", messages.SUCCESS)

    @admin.action(description="Make the selected couriers available", permissions=["change"])
    def make_available(self, request: HttpRequest, queryset: QuerySet[Courier]) -> None:
        done = self._each(request, queryset, services.courier_make_available)
        if done:
            took = sum(courier.status == Courier.Status.BUSY for courier in done)
            self.message_user(
                request,
                f"Made {len(done)} courier(s) available; {took} took a waiting order at once.",
                messages.SUCCESS,
            )

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Courier], service: Callable[..., Courier]
    ) -> list[Courier]:
        """Apply a service to each courier on its own: one refusal neither stops nor undoes the others."""
        done = []
        for courier_id, name in queryset.values_list("pk", "name"):
            try:
                done.append(service(courier_id=courier_id))
            except DispatchError as exc:
                self.message_user(request, f"{name}: {exc.message}", messages.WARNING)
        return done


# --- Deliveries -----------------------------------------------------------------


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
        if self.value() in ("yes", "no"):
            return selectors.delivery_overdue(queryset, overdue=self.value() == "yes")
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only: deliveries change through dispatch, and here only through the cancel action."""

    list_display = ["order_id", "courier", "status_label", "order_status", "deadline", "overdue", "created_at"]
    list_select_related = ["courier"]
    list_filter = ["status", OverdueFilter]
    search_fields = ["order_id"]
    list_per_page = 50
    fields = [
        "order_id",
        "courier",
        "status_label",
        "overdue",
        "order_status",
        "order_checked_at",
        "assigned_at",
        "deadline",
        "finished_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    actions = ["cancel_and_release"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return selectors.delivery_list()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": _fleet_summary()})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        # The page is read-only, but cancelling is a change: it needs the change permission.
        return request.user.has_perm("couriers.change_delivery")

    @admin.display(description="status", ordering="status")
    def status_label(self, delivery: Delivery) -> SafeString:
        return _status_label(delivery.status)

    @admin.display(description="overdue", ordering="is_overdue")
    def overdue(self, delivery: Delivery) -> SafeString | str:
        return _label("overdue", OVERDUE_COLOUR) if delivery.is_overdue else ""

    @admin.action(description="Cancel and release the courier", permissions=["cancel"])
    def cancel_and_release(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        cancelled = 0
        for delivery_id, order_id in queryset.values_list("pk", "order_id"):
            try:
                services.delivery_cancel(delivery_id=delivery_id)
            except DispatchError as exc:
                self.message_user(request, f"Order {order_id}: {exc.message}", messages.WARNING)
            else:
                cancelled += 1
        if cancelled:
            self.message_user(
                request, f"Cancelled {cancelled} delivery(ies); their couriers are free.", messages.SUCCESS
            )
