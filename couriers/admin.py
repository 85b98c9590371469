"""The operators' admin: reads through selectors, every change through the services."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import BooleanField, Case, OuterRef, QuerySet, Subquery, Value, When
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
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
# Order ids are often UUIDs: the list shows their start, the full id is in the tooltip and the page.
ORDER_ID_SHOWN = 8
CHANGELIST_TEMPLATE = "admin/couriers/change_list.html"
# The couriers' list after the overdue ones: the free (to hand orders to), the busy, the paused.
ATTENTION = [Courier.Status.AVAILABLE, Courier.Status.BUSY, Courier.Status.PAUSED]


def _label(text: str, colour: str) -> SafeString:
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 8px;border-radius:9px;white-space:nowrap">{}</span>',
        colour,
        text,
    )


def _status_text(status: str) -> str:
    """The one wording of a status, in labels and (capitalised) in the filters: "awaiting courier"."""
    return status.replace("_", " ")


def _status_label(status: str) -> SafeString:
    return _label(_status_text(status), COLOURS.get(status, "#757575"))


def _overdue_label() -> SafeString:
    return _label("overdue", OVERDUE_COLOUR)


def _disputed_label() -> SafeString:
    return _label("disputed", OVERDUE_COLOUR)


def _order_id(order_id: str) -> SafeString:
    if len(order_id) <= 2 * ORDER_ID_SHOWN:
        return format_html('<span style="white-space:nowrap">{}</span>', order_id)
    return format_html('<span title="{}" style="white-space:nowrap">{}…</span>', order_id, order_id[:ORDER_ID_SHOWN])


def _when(moment: datetime) -> str:
    return formats.localize(timezone.localtime(moment))


def _span(delta: timedelta) -> str:
    """A duration as a dispatcher reads it: "<1 min", "12 min", "2 h 5 min", "3 d 4 h"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _due(deadline: datetime, *, overdue: bool) -> SafeString:
    """An assigned delivery's deadline: "in 12 min", or "5 min late" and the overdue label; the time as a tooltip."""
    now = timezone.now()
    title = f"deadline {_when(deadline)}"
    if overdue:
        return format_html(
            '<span title="{}" style="color:{};font-weight:bold;white-space:nowrap">{} late</span> {}',
            title,
            OVERDUE_COLOUR,
            _span(now - deadline),
            _overdue_label(),
        )
    return format_html('<span title="{}" style="white-space:nowrap">in {}</span>', title, _span(deadline - now))


def _deadline_cell(delivery: Delivery) -> SafeString | str:
    """The deadline as it matters for the delivery's status; `is_overdue` comes from selectors.delivery_list()."""
    quiet = '<span class="quiet" title="{}" style="white-space:nowrap">{}</span>'
    if delivery.status == Delivery.Status.ASSIGNED and delivery.deadline is not None:
        return _due(delivery.deadline, overdue=delivery.is_overdue)
    if delivery.status == Delivery.Status.AWAITING_COURIER:
        return format_html(quiet, "no deadline before a courier: its place in the queue is in the queue column", "—")
    if delivery.status == Delivery.Status.COMPLETED and delivery.deadline and delivery.finished_at:
        late = delivery.finished_at - delivery.deadline
        title = f"deadline {_when(delivery.deadline)}, delivered {_when(delivery.finished_at)}"
        return format_html(quiet, title, f"delivered {_span(late)} late" if late > timedelta(0) else "on time")
    return "—"


def _fleet_summary() -> SafeString:
    """The fleet at a glance, every count a link to the list it counts."""
    counts = selectors.fleet_counts()
    couriers_url = reverse("admin:couriers_courier_changelist")
    deliveries_url = reverse("admin:couriers_delivery_changelist")
    couriers = format_html_join(
        " · ",
        '<a href="{}?status__exact={}">{} {}</a>',
        ((couriers_url, status, n, status) for status, n in counts.couriers_by_status.items()),
    )
    overdue_style = f"color:{OVERDUE_COLOUR}" if counts.overdue else ""
    disputed_style = f"color:{OVERDUE_COLOUR}" if counts.disputed else ""
    return format_html(
        'Couriers: {}. <a href="{}?status__exact={}&amp;{}=no">Orders waiting for a courier: {}</a>. '
        '<a href="{}?{}=yes" style="{}">Overdue: {}</a>. <a href="{}?{}=yes" style="{}">Disputed: {}</a>.',
        couriers,
        deliveries_url,
        Delivery.Status.AWAITING_COURIER,
        DisputedFilter.parameter_name,  # the queue: the disputed ones are counted apart
        counts.waiting,
        deliveries_url,
        OverdueFilter.parameter_name,
        overdue_style,
        counts.overdue,
        deliveries_url,
        DisputedFilter.parameter_name,
        disputed_style,
        counts.disputed,
    )


class StatusFilter(admin.ChoicesFieldListFilter):
    """A status filter in the labels' words: "Awaiting courier", not the choices' "Awaiting Courier"."""

    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:
        every, *by_status = super().choices(changelist)
        yield every
        for (status, label), choice in zip(self.field.flatchoices, by_status, strict=True):
            # The display may carry the facet count after the label: "Awaiting Courier (3)".
            yield {**choice, "display": choice["display"].replace(str(label), _status_text(status).capitalize(), 1)}


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
    fields = ["order_id_cell", "status_label", "order_status", "assigned_at", "deadline_cell", "finished_at"]
    readonly_fields = fields
    ordering = ["-id"]
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        # delivery_list() for `is_overdue`.
        queryset = selectors.delivery_list().order_by(*self.ordering)
        return queryset if self.has_view_or_change_permission(request) else queryset.none()

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="order id")
    def order_id_cell(self, delivery: Delivery) -> SafeString:
        return _order_id(delivery.order_id)

    @admin.display(description="status")
    def status_label(self, delivery: Delivery) -> SafeString:
        return _status_label(delivery.status)

    @admin.display(description="deadline")
    def deadline_cell(self, delivery: Delivery) -> SafeString | str:
        return _deadline_cell(delivery)


@admin.register(Courier)
class CourierAdmin(admin.ModelAdmin):
    list_display = ["name", "phone", "status_label", "transport", "current_delivery", "deliveries_today"]
    list_filter = [("status", StatusFilter), "transport_type"]
    search_fields = ["name", "phone"]
    list_per_page = 50
    fields = ["name", "phone", "transport_type", "status_label", "all_deliveries", "created_at", "updated_at"]
    readonly_fields = ["status_label", "all_deliveries", "created_at", "updated_at"]
    actions = ["pause", "make_available"]
    change_list_template = CHANGELIST_TEMPLATE

    def get_queryset(self, request: HttpRequest) -> QuerySet[Courier]:
        # The current delivery's deadline, and whether it has passed: two subqueries, no query per row.
        deadline = Delivery.objects.filter(courier=OuterRef("pk"), status=Delivery.Status.ASSIGNED)
        return selectors.courier_admin_list().annotate(
            active_deadline=Subquery(deadline.values("deadline")[:1]),
            active_overdue=Case(
                When(active_deadline__lt=timezone.now(), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            attention=Case(
                When(active_overdue=True, then=Value(0)),
                *(When(status=status, then=Value(rank)) for rank, status in enumerate(ATTENTION, start=1)),
                default=Value(len(ATTENTION) + 1),
            ),
        )

    def get_ordering(self, request: HttpRequest) -> list[str]:
        # What needs a dispatcher first: overdue couriers, then the free ones, then the busy, then the paused.
        return ["attention", "name"]

    def get_inlines(self, request: HttpRequest, obj: Courier | None) -> list[type[admin.TabularInline]]:
        return [RecentDeliveryInline] if obj else []

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Deletion one courier at a time, from its page, where a refusal can be explained.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        return super().changelist_view(request, {**(extra_context or {}), "fleet_summary": _fleet_summary()})

    @admin.display(description="status", ordering="status")
    def status_label(self, courier: Courier) -> SafeString:
        return _status_label(courier.status)

    @admin.display(description="transport", ordering="transport_type")
    def transport(self, courier: Courier) -> str:
        # "transport type" would widen the column past its values.
        return courier.get_transport_type_display()

    @admin.display(description="current delivery", ordering="active_deadline")
    def current_delivery(self, courier: Courier) -> SafeString | str:
        if courier.active_delivery is None:
            return "—"
        url = reverse("admin:couriers_delivery_change", args=[courier.active_delivery])
        link = format_html('<a href="{}">{}</a>', url, _order_id(courier.active_order_id))
        if courier.active_deadline is None:
            return link
        due = _due(courier.active_deadline, overdue=courier.active_overdue)
        # On a narrow screen the deadline goes under the order id, in one piece.
        return format_html('{} <span style="white-space:nowrap">{}</span>', link, due)

    @admin.display(description="assigned today", ordering="deliveries_today")
    def deliveries_today(self, courier: Courier) -> int:
        return courier.deliveries_today

    @admin.display(description="deliveries")
    def all_deliveries(self, courier: Courier) -> SafeString | str:
        if courier.pk is None:
            return "—"
        url = reverse("admin:couriers_delivery_changelist") + f"?courier__id__exact={courier.pk}"
        return format_html('<a href="{}">all {} deliveries</a>', url, courier.deliveries.count())

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (DispatchError, DjangoValidationError, IntegrityError) as refusal:
            # A service refused after the form validated (another request took the phone meanwhile). The
            # view's transaction is rolled back; the form is shown again, the reason among its errors.
            request.service_refusal = _refusal_messages(refusal)  # type: ignore[attr-defined]
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        refusal: list[str] = getattr(request, "service_refusal", [])
        if not refusal:
            return form

        class RefusedForm(form):  # type: ignore[misc, valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                for message in refusal:
                    self.add_error(None, message)
                return cleaned

        return RefusedForm

    def save_model(self, request: HttpRequest, obj: Courier, form: Any, change: bool) -> None:
        details = {field: form.cleaned_data[field] for field in ("name", "phone", "transport_type")}
        saved = services.courier_update(courier_id=obj.pk, **details) if change else services.courier_create(**details)
        obj.pk = saved.pk
        obj.refresh_from_db()  # the admin logs and redirects with obj

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        # Permission first: the refusal below would tell anyone whether the courier exists and has history.
        if not self.has_delete_permission(request):
            raise PermissionDenied
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
        changed, unchanged = self._each(request, queryset, services.courier_pause, already=Courier.Status.PAUSED)
        self._report(request, f"Paused {len(changed)} courier(s)", unchanged, "paused")

    @admin.action(description="Make the selected couriers available", permissions=["change"])
    def make_available(self, request: HttpRequest, queryset: QuerySet[Courier]) -> None:
        changed, unchanged = self._each(
            request, queryset, services.courier_make_available, already=Courier.Status.AVAILABLE
        )
        took = sum(courier.status == Courier.Status.BUSY for courier in changed)
        done = f"Made {len(changed)} courier(s) available ({took} took a waiting order at once)"
        self._report(request, done, unchanged, "available")

    def _report(self, request: HttpRequest, done: str, unchanged: int, state: str) -> None:
        if unchanged:
            done += f"; {unchanged} already {state}, left as they were"
        self.message_user(request, done + ".", messages.SUCCESS if not unchanged else messages.INFO)

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Courier], service: Callable[..., Courier], *, already: str
    ) -> tuple[list[Courier], int]:
        """Apply a service to each courier on its own: one refusal neither stops nor undoes the others.
        Returns the couriers it changed and how many were `already` so (the service leaves them as they are)."""
        changed, unchanged = [], 0
        for courier_id, name, status in queryset.values_list("pk", "name", "status"):
            if status == already:
                unchanged += 1
                continue
            try:
                changed.append(service(courier_id=courier_id))
            except DispatchError as exc:
                self.message_user(request, f"{name}: {exc.message}", messages.WARNING)
        return changed, unchanged


def _refusal_messages(refusal: Exception) -> list[str]:
    if isinstance(refusal, DispatchError):
        return [refusal.message]
    if isinstance(refusal, DjangoValidationError):
        return refusal.messages
    return ["Another change to this courier (or one with the same phone) came first: check the form and save again."]


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


@dataclass(frozen=True)
class PageAction:
    """A dispatcher's action on one delivery, from its page, after a confirmation page."""

    slug: str
    title: str
    consequence: str
    service: Callable[..., Delivery]
    statuses: tuple[str, ...]  # the delivery's statuses the action applies to
    done: Callable[[Delivery], str]  # what happened, for the message


def _unassigned(delivery: Delivery) -> str:
    taken_off = f"Took the courier off order {delivery.order_id} (the courier is paused)"
    if delivery.status == Delivery.Status.ASSIGNED:
        return f"{taken_off}; {delivery.courier} took it at once."
    return f"{taken_off}; the order waits in the queue in its place."


def _cancelled(delivery: Delivery) -> str:
    return f"Cancelled the delivery of order {delivery.order_id}; its courier, if it had one, is free."


PAGE_ACTIONS = [
    PageAction(
        "take-courier-off",
        "Take the courier off",
        "The courier is paused and the order goes back to the queue in its place: another free courier takes "
        "it at once, if there is one.",
        services.delivery_unassign,
        (Delivery.Status.ASSIGNED,),
        _unassigned,
    ),
    PageAction(
        "cancel",
        "Cancel the delivery",
        "The delivery ends as cancelled, whatever service-order says of the order; its courier, if any, takes "
        "the oldest waiting order.",
        services.delivery_cancel,
        (Delivery.Status.AWAITING_COURIER, Delivery.Status.ASSIGNED),
        _cancelled,
    ),
]


class DisputedFilter(admin.SimpleListFilter):
    """Open deliveries whose order an event announced ended while service-order reads it active."""

    title = "disputed"
    parameter_name = "disputed"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Disputed"), ("no", "Not disputed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
        if self.value() in ("yes", "no"):
            return selectors.delivery_disputed(queryset, disputed=self.value() == "yes")
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only: deliveries change through dispatch, and here only through the dispatcher's actions (on the
    list, or on a delivery's page after a confirmation)."""

    # Fits a 1366 px screen beside the filters: short order ids, the courier's name, overdue in the deadline.
    list_display = ["order_id_cell", "courier_name", "status_label", "queue", "order_status", "deadline_cell"]
    list_select_related = ["courier", "order"]
    list_filter = [("status", StatusFilter), OverdueFilter, DisputedFilter]
    search_fields = ["order__order_id"]
    list_per_page = 50
    fields = [
        "order_id",
        "courier",
        "status_label",
        "queue",
        "overdue",
        "order_status",
        "order_checked_at",
        "end_announced",
        "end_announced_at",
        "verdict",
        "assigned_at",
        "deadline",
        "finished_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    actions = ["take_courier_off", "cancel_and_release", "accept_announced_end", "reject_announced_end"]
    change_list_template = CHANGELIST_TEMPLATE
    change_form_template = "admin/couriers/delivery/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        page_actions = [
            path(
                f"<path:object_id>/{action.slug}/",
                self.admin_site.admin_view(partial(self.page_action_view, action=action)),
                name=f"couriers_delivery_{action.slug.replace('-', '_')}",
            )
            for action in PAGE_ACTIONS
        ]
        return page_actions + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        delivery = self.get_object(request, object_id)
        offered = self._offered(request, delivery) if delivery else []
        links = [(reverse(f"admin:couriers_delivery_{a.slug.replace('-', '_')}", args=[object_id]), a) for a in offered]
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "page_actions": links})

    def page_action_view(self, request: HttpRequest, object_id: str, *, action: PageAction) -> HttpResponse:
        """GET: the confirmation page; POST: the action, then back to the delivery's page with what happened."""
        delivery = self.get_object(request, object_id)
        if delivery is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_dispatch_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            try:
                self.message_user(request, action.done(action.service(order_id=delivery.order_id)), messages.SUCCESS)
            except DispatchError as exc:
                self.message_user(request, f"Order {delivery.order_id}: {exc.message}", messages.WARNING)
            return redirect("admin:couriers_delivery_change", object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{action.title}: order {delivery.order_id}?",
            "delivery": delivery,
            "action": action,
            "offered": action in self._offered(request, delivery),
        }
        return TemplateResponse(request, "admin/couriers/delivery/confirm_action.html", context)

    def _offered(self, request: HttpRequest, delivery: Delivery) -> list[PageAction]:
        if not self.has_dispatch_permission(request):
            return []
        return [action for action in PAGE_ACTIONS if delivery.status in action.statuses]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return selectors.delivery_list()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        return super().changelist_view(request, {**(extra_context or {}), "fleet_summary": _fleet_summary()})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_dispatch_permission(self, request: HttpRequest) -> bool:
        # The page is read-only; dispatching by hand is its own permission (the dispatchers group has it).
        return request.user.has_perm("couriers.dispatch_delivery")

    @admin.display(description="order id", ordering="order_id")
    def order_id_cell(self, delivery: Delivery) -> SafeString:
        return _order_id(delivery.order_id)

    # What we know of the order (couriers.models.OrderKnowledge), beside what we do about it.
    @admin.display(description="order status", ordering="order__read_status")
    def order_status(self, delivery: Delivery) -> str:
        return delivery.order.read_status

    @admin.display(description="order checked at")
    def order_checked_at(self, delivery: Delivery) -> str:
        return _when(delivery.order.read_at)

    @admin.display(description="end announced")
    def end_announced(self, delivery: Delivery) -> str:
        return delivery.order.end_announced or "—"

    @admin.display(description="end announced at")
    def end_announced_at(self, delivery: Delivery) -> str:
        known = delivery.order
        return _when(known.end_announced_at) if known.end_announced_at else "—"

    @admin.display(description="dispatcher's verdict on an announced end")
    def verdict(self, delivery: Delivery) -> str:
        known = delivery.order
        return f"{known.verdict} at {_when(known.verdict_at)}" if known.verdict else "—"

    @admin.display(description="courier", ordering="courier__name")
    def courier_name(self, delivery: Delivery) -> SafeString | str:
        if delivery.courier is None:
            return "—"
        return format_html('<span title="{}">{}</span>', delivery.courier.phone, delivery.courier.name)

    @admin.display(description="status", ordering="status")
    def status_label(self, delivery: Delivery) -> SafeString:
        if delivery.disputed:
            title = f"an event said {delivery.order.end_announced} at {_when(delivery.order.end_announced_at)}"
            return format_html(
                '{} <span title="{}">{}</span>', _status_label(delivery.status), title, _disputed_label()
            )
        return _status_label(delivery.status)

    @admin.display(description="deadline", ordering="deadline")
    def deadline_cell(self, delivery: Delivery) -> SafeString | str:
        return _deadline_cell(delivery)

    @admin.display(description="queue", ordering="queue_position")
    def queue(self, delivery: Delivery) -> SafeString | str:
        """The place in the queue (1: served next) and how long the order has waited."""
        if delivery.queue_position is None:
            return "—"
        waited = _span(timezone.now() - delivery.created_at)
        return format_html(
            '<span title="waiting since {}" style="white-space:nowrap"><b>{}</b> <span class="quiet">{}</span></span>',
            _when(delivery.created_at),
            delivery.queue_position,
            waited,
        )

    @admin.display(description="overdue", ordering="is_overdue")
    def overdue(self, delivery: Delivery) -> SafeString | str:
        return _overdue_label() if delivery.is_overdue else "no"

    def get_ordering(self, request: HttpRequest) -> list[str]:
        # The waiting orders alone: in the order they will be served, the next one on top of the first page.
        if request.GET.get("status__exact") == Delivery.Status.AWAITING_COURIER:
            return ["queue_position"]
        return super().get_ordering(request)

    @admin.action(description="Take the courier off (the order goes back to the queue)", permissions=["dispatch"])
    def take_courier_off(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        back = self._each(request, queryset, services.delivery_unassign)
        if back:
            again = sum(delivery.status == Delivery.Status.ASSIGNED for delivery in back)
            self.message_user(
                request,
                f"Took the courier off {len(back)} delivery(ies), the couriers are paused; {again} got another "
                "courier at once, the others wait in the queue in their place.",
                messages.SUCCESS,
            )

    @admin.action(description="Cancel and release the courier", permissions=["dispatch"])
    def cancel_and_release(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        cancelled = self._each(request, queryset, services.delivery_cancel)
        if cancelled:
            self.message_user(
                request, f"Cancelled {len(cancelled)} delivery(ies); their couriers are free.", messages.SUCCESS
            )

    @admin.action(description="Disputed: accept the announced end (frees the courier)", permissions=["dispatch"])
    def accept_announced_end(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        settled = self._each(request, queryset, partial(services.delivery_dispute_settle, accept=True))
        if settled:
            self.message_user(
                request,
                f"Ended {len(settled)} disputed delivery(ies) as announced; their couriers are free.",
                messages.SUCCESS,
            )

    @admin.action(description="Disputed: reject the announced end (the delivery goes on)", permissions=["dispatch"])
    def reject_announced_end(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        settled = self._each(request, queryset, partial(services.delivery_dispute_settle, accept=False))
        if settled:
            self.message_user(
                request, f"Rejected the announced end of {len(settled)} delivery(ies): they go on.", messages.SUCCESS
            )

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Delivery], service: Callable[..., Delivery]
    ) -> list[Delivery]:
        """Apply a service to each delivery on its own: one refusal neither stops nor undoes the others."""
        done = []
        for order_id in queryset.values_list("order_id", flat=True):
            try:
                done.append(service(order_id=order_id))
            except DispatchError as exc:
                self.message_user(request, f"Order {order_id}: {exc.message}", messages.WARNING)
        return done
