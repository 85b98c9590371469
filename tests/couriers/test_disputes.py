"""What we know of an order decides, whatever order the news came in: ends announced by events that
service-order's reads contradict (disputes), before or after the delivery, through every path."""

from datetime import timedelta
from itertools import pairwise

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from couriers.errors import Conflict
from couriers.models import Courier, Delivery, OrderKnowledge, OutboxEvent
from couriers.services import (
    Outcome,
    Reading,
    deliveries_match_waiting,
    deliveries_reconcile,
    delivery_cancel,
    delivery_dispute_settle,
    order_events_handle,
    order_reading_apply,
    order_readings_record_settled,
    order_readings_start,
)
from couriers.services.disputes import disputes_expired
from tests.fakes import FakeOrderClient

pytestmark = pytest.mark.django_db

LIFE = ("created", "pending", "confirmed", "cooking", "delivering", "completed")
FAR = timedelta(hours=1)


def handle(orders, *statuses: str, order_id: str = "o1", produced_at=None) -> Outcome:
    return order_events_handle(
        order_id=order_id, event_statuses=statuses, client=orders, produced_at=produced_at
    ).outcome


def delivery(order_id: str = "o1") -> Delivery:
    return Delivery.objects.select_related("courier", "order").get(order_id=order_id)


def known(order_id: str = "o1") -> OrderKnowledge:
    return OrderKnowledge.objects.get(order_id=order_id)


def age_dispute(seconds: float, order_id: str = "o1") -> None:
    OrderKnowledge.objects.filter(order_id=order_id).update(
        end_announced_at=timezone.now() - timedelta(seconds=seconds)
    )


def sweep(orders) -> None:
    deliveries_reconcile(older_than=FAR, client=orders)


def events(order_id: str = "o1") -> list[tuple[str, str]]:
    return list(OutboxEvent.objects.filter(order_id=order_id).order_by("id").values_list("type", "payload__cause"))


@pytest.fixture
def grace(settings):
    settings.DISPUTE_GRACE = 60.0
    return settings


@pytest.fixture
def past_the_mark(orders) -> FakeOrderClient:
    """service-order past order o1's 10-minute mark: every read says delivering, though it completed."""
    orders.set("o1", "delivering")
    return orders


class TestAnEndIsRememberedWhateverExistsYet:
    def test_an_end_before_the_start_makes_the_delivery_start_disputed(self, past_the_mark, make_courier, grace):
        courier = make_courier()
        assert handle(past_the_mark, "completed") is Outcome.STALE
        assert known().end_announced == "completed"
        assert handle(past_the_mark, "created") is Outcome.STALE
        d = delivery()
        assert (d.status, d.courier, d.disputed) == ("awaiting_courier", None, True)
        courier.refresh_from_db()
        assert courier.status == Courier.Status.AVAILABLE, "a disputed order takes no courier"
        assert events() == [("disputed", "reading")]

    def test_an_end_in_the_same_check_as_the_start(self, past_the_mark, make_courier, grace):
        make_courier()
        assert handle(past_the_mark, "created", "completed") is Outcome.STALE
        assert (delivery().status, delivery().courier, delivery().disputed) == ("awaiting_courier", None, True)

    def test_the_batch_paths_leave_an_announced_end_to_the_decision_of_its_own(self, past_the_mark, make_courier):
        make_courier()
        now = timezone.now()
        with_end = Reading("o1", ("created", "completed"), "delivering", now)
        assert order_readings_start(readings=[with_end]) == {}
        assert order_readings_record_settled(readings=[with_end]) == {}
        assert not Delivery.objects.exists()

    def test_an_end_after_the_courier_keeps_the_courier_until_settled(self, past_the_mark, make_courier, grace):
        courier = make_courier()
        assert handle(past_the_mark, "created") is Outcome.ASSIGNED
        assert handle(past_the_mark, "completed") is Outcome.STALE
        d = delivery()
        assert (d.status, d.courier, d.disputed) == ("assigned", courier, True)
        assert [kind for kind, _ in events()] == ["assigned", "disputed"]


class TestTheRule:
    def test_after_its_grace_the_sweep_ends_it_and_says_the_rule_did(self, past_the_mark, make_courier, grace):
        courier = make_courier()
        handle(past_the_mark, "created")
        handle(past_the_mark, "completed")
        sweep(past_the_mark)
        assert delivery().status == "assigned", "within its grace the dispute stands"
        age_dispute(61)
        assert disputes_expired() == ["o1"]
        sweep(past_the_mark)
        assert delivery().status == "completed"
        courier.refresh_from_db()
        assert courier.status == Courier.Status.AVAILABLE
        assert events()[-1] == ("completed", "rule")

    def test_a_delivery_started_disputed_ends_without_ever_taking_a_courier(self, past_the_mark, make_courier, grace):
        make_courier()
        handle(past_the_mark, "completed")
        handle(past_the_mark, "created")
        age_dispute(61)
        assert handle(past_the_mark, "delivering") is Outcome.COMPLETED
        assert delivery().courier is None
        assert [kind for kind, _ in events()] == ["disputed", "completed"]

    def test_with_no_grace_only_a_dispatcher_ends_it(self, past_the_mark, make_courier, settings):
        settings.DISPUTE_GRACE = None
        make_courier()
        handle(past_the_mark, "created", "completed")
        age_dispute(10**6)
        sweep(past_the_mark)
        assert disputes_expired() == []
        assert delivery().disputed

    def test_a_read_that_agrees_settles_it_as_an_answer(self, past_the_mark, make_courier, grace):
        handle(past_the_mark, "created", "completed")
        past_the_mark.set("o1", "canceled")
        assert handle(past_the_mark) is Outcome.CANCELLED
        assert events()[-1] == ("cancelled", "reading")


class TestADispatchersVerdict:
    @pytest.fixture
    def rejected(self, past_the_mark, make_courier, grace) -> Courier:
        courier = make_courier()
        handle(past_the_mark, "created")
        handle(past_the_mark, "completed")
        delivery_dispute_settle(order_id="o1", accept=False)
        return courier

    def test_a_rejection_lets_the_delivery_go_on(self, rejected):
        d = delivery()
        assert (d.status, d.courier, d.disputed) == ("assigned", rejected, False)
        assert (known().verdict, known().end_announced) == ("rejected", "")
        assert events()[-1] == ("settled", "dispatcher")

    def test_the_same_news_again_does_not_reopen_it(self, rejected, past_the_mark):
        before = timezone.now() - timedelta(seconds=5)
        assert handle(past_the_mark, "completed", produced_at=before) is Outcome.UNCHANGED
        assert handle(past_the_mark, "completed") is Outcome.UNCHANGED, "no timestamp: not known to be newer"
        assert not delivery().disputed

    def test_only_an_end_produced_after_it_reopens_it(self, rejected, past_the_mark):
        later = timezone.now() + timedelta(seconds=1)
        assert handle(past_the_mark, "completed", produced_at=later) is Outcome.STALE
        assert delivery().disputed
        assert known().verdict == ""

    def test_acceptance_ends_it_and_says_a_dispatcher_did(self, past_the_mark, make_courier, grace):
        courier = make_courier()
        handle(past_the_mark, "created", "completed")  # disputed from the start: no courier
        delivery_dispute_settle(order_id="o1", accept=True)
        assert delivery().status == "completed"
        assert known().verdict == "accepted"
        assert events()[-1] == ("completed", "dispatcher")
        courier.refresh_from_db()
        assert courier.status == Courier.Status.AVAILABLE

    def test_no_dispute_no_verdict(self, orders, make_courier):
        make_courier()
        orders.set("o1", "cooking")
        handle(orders, "created")
        with pytest.raises(Conflict):
            delivery_dispute_settle(order_id="o1", accept=True)


class TestDisputedOrdersTakeNoCourier:
    def test_a_freed_courier_skips_a_disputed_order_for_the_next_one(self, orders, make_courier, grace):
        courier = make_courier()
        for order_id in ("first", "disputed", "next"):
            orders.set(order_id, "cooking")
            handle(orders, "created", order_id=order_id)
        orders.set("disputed", "delivering")
        handle(orders, "completed", order_id="disputed")
        delivery_cancel(order_id="first")
        assert delivery("next").courier == courier
        assert delivery("disputed").status == "awaiting_courier"

    def test_the_matching_step_skips_it_too(self, past_the_mark, make_courier, grace):
        handle(past_the_mark, "created", "completed")
        make_courier()
        assert deliveries_match_waiting() == 0
        assert delivery().courier is None

    def test_a_rejected_dispute_rejoins_the_queue_in_its_place(
        self, past_the_mark, make_courier, grace, django_capture_on_commit_callbacks
    ):
        handle(past_the_mark, "created", "completed")
        courier = make_courier()
        with django_capture_on_commit_callbacks(execute=True):
            delivery_dispute_settle(order_id="o1", accept=False)
        assert delivery().courier == courier, "matched after the verdict's commit"


class TestOrdersServiceOrderNeverHad:
    def test_leave_no_delivery_and_their_404_is_remembered(self, orders, make_courier):
        make_courier()
        assert handle(orders, "created", order_id="ghost") is Outcome.NOT_FOUND
        assert not Delivery.objects.filter(order_id="ghost").exists()
        assert known("ghost").read_status == OrderKnowledge.NOT_FOUND

    def test_an_older_active_answer_committed_later_gives_no_courier(self, orders, make_courier):
        make_courier()
        older = Reading("ghost", ("created",), "cooking", timezone.now() - timedelta(seconds=1))
        handle(orders, "created", order_id="ghost")
        assert order_readings_start(readings=[older]) == {}, "known already: decided alone"
        assert order_reading_apply(reading=older).outcome is Outcome.NOT_FOUND
        assert not Delivery.objects.filter(order_id="ghost").exists()


def _checks(draw, statuses: list[str]) -> list[tuple[str, ...]]:
    """The events in the order they arrive, cut into consecutive checks (a batch collapses a few)."""
    order = draw(st.permutations(statuses))
    cuts = sorted(draw(st.sets(st.integers(1, len(order) - 1), max_size=len(order) - 1))) if len(order) > 1 else []
    bounds = [0, *cuts, len(order)]
    return [tuple(order[a:b]) for a, b in pairwise(bounds)]


@st.composite
def arrivals(draw) -> list[tuple[str, ...]]:
    """One order's whole life as a backlog: duplicates, any arrival order, any cut into checks."""
    statuses = list(LIFE) + draw(st.lists(st.sampled_from(LIFE), max_size=3))
    return _checks(draw, statuses)


def fresh_world(make_courier, *, reads: str) -> FakeOrderClient:
    """Each Hypothesis example from scratch: one courier, order o1 unknown to us, service-order reading `reads`."""
    OutboxEvent.objects.all().delete()
    Delivery.objects.all().delete()
    OrderKnowledge.objects.all().delete()
    Courier.objects.all().delete()
    make_courier()
    orders = FakeOrderClient()
    orders.set("o1", reads)
    return orders


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(checks=arrivals())
def test_a_completed_order_read_after_its_mark_frees_its_courier_whatever_the_arrival(make_courier, grace, checks):
    """The faithful read rule past the 10-minute mark: every read says delivering, the end is in the events only.
    In any order and any cut, the end is remembered, the courier (if one was taken) is freed after the grace."""
    orders = fresh_world(make_courier, reads="delivering")
    for check in checks:
        handle(orders, *check)
    assert delivery().disputed, f"the end stands against the reads after {checks}"
    age_dispute(61)
    sweep(orders)
    assert delivery().status == "completed"
    assert not Courier.objects.exclude(status=Courier.Status.AVAILABLE).exists()
    assert events()[-1] == ("completed", "rule")


@st.composite
def cancelled_arrivals(draw) -> tuple[list[tuple[str, ...]], int]:
    """A cancelled order's events as checks, and the first check whose read says canceled (it may be none)."""
    checks = _checks(draw, [*LIFE[:4], "canceled", *draw(st.lists(st.sampled_from(LIFE[:4]), max_size=2))])
    return checks, draw(st.integers(0, len(checks)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cancelled_arrivals())
def test_a_cancelled_order_ends_without_a_dispute_whatever_the_arrival(make_courier, grace, case):
    """service-order reads a cancelled order as canceled: once a read says so (an event's, or the sweep's), the
    delivery is cancelled and its courier free; before, a canceled event against an active read is a dispute."""
    checks, cancelled_from = case
    orders = fresh_world(make_courier, reads="cooking")
    for i, check in enumerate(checks):
        if i == cancelled_from:
            orders.set("o1", "canceled")
        handle(orders, *check)
    orders.set("o1", "canceled")
    deliveries_reconcile(older_than=timedelta(0), client=orders)
    assert not Delivery.objects.filter(status__in=Delivery.OPEN).exists()
    assert not Courier.objects.exclude(status=Courier.Status.AVAILABLE).exists()
