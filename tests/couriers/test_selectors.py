"""Selectors: what each read returns, and that lists cost no query per row."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from couriers import selectors
from couriers.errors import NotFound
from couriers.models import Courier, Delivery, OrderKnowledge
from tests.couriers.factories import create_courier, create_delivery

pytestmark = pytest.mark.django_db

PAST = timedelta(minutes=1)


def test_courier_list_annotates_the_active_delivery() -> None:
    busy = create_courier()
    delivery = create_delivery(courier=busy)
    done = create_courier()
    create_delivery(courier=done, status=Delivery.Status.COMPLETED)

    rows = {c.pk: c.active_delivery for c in selectors.courier_list()}

    assert rows == {busy.pk: delivery.pk, done.pk: None}


def test_courier_list_is_one_query(django_assert_num_queries) -> None:
    for _ in range(20):
        create_delivery(courier=create_courier())

    with django_assert_num_queries(1):
        assert all(c.active_delivery for c in selectors.courier_list())


def test_courier_admin_list_counts_todays_assignments_only() -> None:
    now = timezone.now()
    today = create_courier()
    yesterday = create_courier()
    Courier.objects.filter(pk=today.pk).update(load_date=timezone.localdate(now), deliveries_on_load_date=3)
    Courier.objects.filter(pk=yesterday.pk).update(
        load_date=timezone.localdate(now) - timedelta(days=1), deliveries_on_load_date=7
    )
    delivery = create_delivery(order_id="A-1", courier=today)

    rows = {c.pk: c for c in selectors.courier_admin_list(now=now)}

    assert (rows[today.pk].deliveries_today, rows[yesterday.pk].deliveries_today) == (3, 0)
    assert (rows[today.pk].active_delivery, rows[today.pk].active_order_id) == (delivery.pk, "A-1")
    assert rows[yesterday.pk].active_order_id is None


def test_courier_has_deliveries() -> None:
    used = create_courier()
    create_delivery(courier=used, status=Delivery.Status.CANCELLED)

    assert selectors.courier_has_deliveries(courier_id=used.pk)
    assert not selectors.courier_has_deliveries(courier_id=create_courier().pk)


def test_delivery_list_flags_overdue_and_joins_the_courier(django_assert_num_queries) -> None:
    late = create_delivery(courier=create_courier(), deadline=timezone.now() - PAST)
    create_delivery(courier=create_courier())
    create_delivery(courier=create_courier(), status=Delivery.Status.COMPLETED, deadline=timezone.now() - PAST)

    with django_assert_num_queries(1):
        rows = {d.pk: (d.is_overdue, d.courier.name) for d in selectors.delivery_list()}

    assert [pk for pk, (overdue, _) in rows.items() if overdue] == [late.pk]


def test_delivery_overdue_narrows_either_way() -> None:
    late = create_delivery(courier=create_courier(), deadline=timezone.now() - PAST)
    in_time = create_delivery(courier=create_courier())
    waiting = create_delivery()

    assert list(selectors.delivery_overdue(Delivery.objects.all())) == [late]
    assert set(selectors.delivery_overdue(Delivery.objects.all(), overdue=False)) == {in_time, waiting}
    later = timezone.now() + timedelta(hours=1)
    assert set(selectors.delivery_overdue(Delivery.objects.all(), now=later)) == {late, in_time}


def test_delivery_get_for_order() -> None:
    delivery = create_delivery(order_id="a/b ?#")

    assert selectors.delivery_get_for_order(order_id="a/b ?#") == delivery
    with pytest.raises(NotFound) as raised:
        selectors.delivery_get_for_order(order_id="other")
    assert raised.value.code == "delivery_not_found"


def test_waiting_count() -> None:
    create_delivery()
    create_delivery()
    create_delivery(courier=create_courier())

    assert selectors.waiting_count() == 2


def test_delivery_due_for_check_takes_stale_and_overdue_open_deliveries_oldest_first() -> None:
    now = timezone.now()
    create_delivery(order_id="stale")
    create_delivery(order_id="staler")
    create_delivery(order_id="overdue", courier=create_courier(), deadline=now - PAST)
    create_delivery(order_id="fresh")
    create_delivery(order_id="finished", courier=create_courier(), status=Delivery.Status.COMPLETED)
    OrderKnowledge.objects.create(order_id="no delivery", read_status="completed", read_at=now - timedelta(hours=1))
    answered(stale=now - timedelta(minutes=10), staler=now - timedelta(minutes=20), finished=now - timedelta(hours=1))

    due = selectors.delivery_due_for_check(older_than=timedelta(minutes=5), limit=10)

    assert due == ["staler", "stale", "overdue"]
    assert selectors.delivery_due_for_check(older_than=timedelta(minutes=5), limit=2) == ["staler", "stale"]


def test_delivery_due_for_check_puts_the_least_recently_swept_first_and_skips_the_just_swept() -> None:
    now = timezone.now()
    for order_id in ("never swept", "swept long ago", "swept just now"):
        create_delivery(order_id=order_id)
    create_delivery(order_id="overdue swept just now", courier=create_courier(), deadline=now - PAST)
    answered(**dict.fromkeys(["never swept", "swept long ago", "swept just now"], now - timedelta(hours=1)))
    # Answered last: a sweep taking the oldest answer first would put it last.
    answered(**{"never swept": now - timedelta(minutes=10)})
    OrderKnowledge.objects.filter(order_id="swept long ago").update(swept_at=now - timedelta(minutes=30))
    OrderKnowledge.objects.filter(order_id__endswith="swept just now").update(swept_at=now)

    due = selectors.delivery_due_for_check(older_than=timedelta(minutes=5), limit=None)

    assert due == ["never swept", "swept long ago", "overdue swept just now"], "overdue: due at every run"


def answered(**read_at: datetime) -> None:
    """When service-order last answered for each order (order id -> time)."""
    for order_id, at in read_at.items():
        OrderKnowledge.objects.filter(order_id=order_id).update(read_at=at)


def test_fleet_counts() -> None:
    create_courier(status=Courier.Status.PAUSED)
    create_delivery(courier=create_courier(), deadline=timezone.now() - PAST)
    create_delivery()

    counts = selectors.fleet_counts()

    assert counts.couriers_by_status == {"available": 0, "busy": 1, "paused": 1}
    assert (counts.waiting, counts.overdue) == (1, 1)
