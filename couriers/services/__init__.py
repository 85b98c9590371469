"""Dispatch decisions. Every change to couriers and deliveries goes through these functions.

Rule of the house: never trust an event's status. Ask service-order (through an OrderClient)
and make the delivery match the order's actual phase, in one transaction with row locks.

One module per job, so that each rule has one obvious place:
- knowledge: what we know of an order (answers, announced ends, verdicts) and the decision it makes;
- readings: order events, service-order asked and its answer applied (alone or a batch's at once);
- deliveries: one order's delivery made to match its knowledge;
- queue: couriers chosen, released, and the waiting queue served first come;
- disputes: ends announced by events that service-order's reads contradict, found for the sweep, judged by hand;
- parked: orders that fail on their own, set aside with their events and counted (the consumer's);
- outbox: the delivery events other teams hear of, written in each decision's transaction, and the relay's rows;
- reconcile: the sweep that checks open deliveries again;
- dispatch: operators' manual dispatch;
- fleet: operators' couriers.
Callers import from here; the modules import each other directly.
"""

from couriers.services.deliveries import order_decide
from couriers.services.dispatch import delivery_assign, delivery_cancel, delivery_unassign
from couriers.services.disputes import delivery_dispute_settle
from couriers.services.fleet import (
    courier_create,
    courier_delete,
    courier_make_available,
    courier_pause,
    courier_update,
)
from couriers.services.outcomes import EventResult, Outcome
from couriers.services.parked import (
    ParkedEvent,
    ParkedOrder,
    ParkingRules,
    order_park,
    order_parked_settle,
    orders_given_up_forget,
    orders_parked,
    orders_parked_release,
    orders_parked_take,
    orders_parked_waiting,
)
from couriers.services.queue import deliveries_match_waiting
from couriers.services.readings import (
    Reading,
    order_event_handle,
    order_events_handle,
    order_read,
    order_reading_apply,
    order_readings_record_settled,
    order_readings_start,
)
from couriers.services.reconcile import deliveries_reconcile

__all__ = [
    "EventResult",
    "Outcome",
    "ParkedEvent",
    "ParkedOrder",
    "ParkingRules",
    "Reading",
    "courier_create",
    "courier_delete",
    "courier_make_available",
    "courier_pause",
    "courier_update",
    "deliveries_match_waiting",
    "deliveries_reconcile",
    "delivery_assign",
    "delivery_cancel",
    "delivery_dispute_settle",
    "delivery_unassign",
    "order_decide",
    "order_event_handle",
    "order_events_handle",
    "order_park",
    "order_parked_settle",
    "order_read",
    "order_reading_apply",
    "order_readings_record_settled",
    "order_readings_start",
    "orders_given_up_forget",
    "orders_parked",
    "orders_parked_release",
    "orders_parked_take",
    "orders_parked_waiting",
]
