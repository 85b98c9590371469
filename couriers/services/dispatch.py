"""Operators' manual dispatch: give an order a courier, take it off, cancel a delivery."""

from django.db import transaction
from django.utils import timezone

from couriers.errors import Conflict, NotFound
from couriers.models import Courier, Delivery
from couriers.phases import Phase, phase_of
from couriers.services.deliveries import ensure_courier, finish, order_decide
from couriers.services.fleet import locked_courier
from couriers.services.knowledge import Reading
from couriers.services.outbox import Cause, caused_by
from couriers.services.queue import wait_for_courier
from gateway.orders import OrderClient, OrderNotFound, OrderRequestRejected


@caused_by(Cause.DISPATCHER)
def delivery_assign(*, order_id: str, client: OrderClient) -> Delivery:
    """Give an order a courier on an operator's request, after checking it is active."""
    asked_at = timezone.now()
    try:
        order = client.get_order(order_id)
    except (OrderNotFound, OrderRequestRejected) as exc:
        # A refused id (not a UUID, say) names no order either: the same answer as an unknown one.
        raise NotFound(f"order {order_id} does not exist at service-order", code="order_not_found") from exc
    if phase_of(order.status) is not Phase.ACTIVE:
        raise Conflict(f"order {order_id} is {order.status}: only active orders get a courier", code="order_not_active")
    order_decide(reading=Reading(order_id, (), order.status, asked_at), reopen=True)
    return Delivery.objects.select_related("courier", "order").get(order_id=order_id)


@caused_by(Cause.DISPATCHER)
def delivery_unassign(*, order_id: str) -> Delivery:
    """Take the courier off an order: the order goes back to the queue, keeping its place.

    The queue is first come first served by the order's arrival, so the order waits ahead of the
    orders that arrived after it. The courier taken off is paused: the dispatcher had a reason to
    take it off, and made available it would take this same order back (it is often the oldest).
    """
    with transaction.atomic():
        delivery = _locked_delivery_of_order(order_id)
        _refuse_finished(delivery)
        if delivery.status != Delivery.Status.ASSIGNED:
            raise Conflict(
                f"order {order_id} has no courier to take off: it waits for one", code="delivery_not_assigned"
            )
        courier = locked_courier(delivery.courier_id)
        wait_for_courier(delivery)
        courier.status = Courier.Status.PAUSED
        courier.save(update_fields=["status", "updated_at"])
        # As any waiting order: another free courier at once, or the queue. A free courier means nobody
        # else waits (each one takes the oldest waiting order on becoming free), so nobody is overtaken.
        ensure_courier(delivery, created=False, reopen=False)
        return delivery


@caused_by(Cause.DISPATCHER)
def delivery_cancel(*, order_id: str) -> Delivery:
    """Cancel an order's delivery on an operator's request; its courier, if any, takes the oldest waiting order."""
    with transaction.atomic():
        delivery = _locked_delivery_of_order(order_id)
        _refuse_finished(delivery)
        finish(delivery, Phase.CANCELLED, settled_by="a dispatcher (cancelled)")
        return delivery


def _refuse_finished(delivery: Delivery) -> None:
    if delivery.status not in Delivery.OPEN:
        raise Conflict(f"delivery of order {delivery.order_id} is already {delivery.status}", code="delivery_finished")


def _locked_delivery_of_order(order_id: str) -> Delivery:
    delivery = Delivery.objects.select_for_update().filter(order_id=order_id).first()
    if delivery is None:
        raise NotFound(f"order {order_id} has no delivery", code="delivery_not_found")
    return delivery
