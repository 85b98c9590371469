"""The admin: pages answer, every change goes through the services, lists stay a few queries."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import IntegrityError
from django.forms.models import BaseModelForm
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from couriers.errors import Conflict
from couriers.models import Courier, Delivery
from tests.couriers.factories import announce_end, create_courier, create_delivery

pytestmark = pytest.mark.django_db

COURIERS = reverse("admin:couriers_courier_changelist")
DELIVERIES = reverse("admin:couriers_delivery_changelist")
NEW = {"name": "Ann", "phone": "+79990000001", "transport_type": "car"}


def change_url(obj: Courier | Delivery) -> str:
    return reverse(f"admin:couriers_{obj._meta.model_name}_change", args=[obj.pk])


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client: Client, url: str, action: str, *objects: Courier | Delivery):
    return client.post(url, {"action": action, "_selected_action": [o.pk for o in objects]}, follow=True)


def inline_management(prefix: str = "deliveries", initial: int = 0) -> dict[str, int]:
    return {
        f"{prefix}-TOTAL_FORMS": initial,
        f"{prefix}-INITIAL_FORMS": initial,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }


# --- pages ----------------------------------------------------------------------


@pytest.fixture
def pages() -> list[str]:
    courier = create_courier()
    delivery = create_delivery(courier=courier, deadline=timezone.now() - timedelta(minutes=1))
    spare = create_courier()
    return [
        COURIERS,
        f"{COURIERS}?status__exact=busy&transport_type__exact=scooter&q=Courier",
        reverse("admin:couriers_courier_add"),
        change_url(courier),
        reverse("admin:couriers_courier_delete", args=[spare.pk]),
        DELIVERIES,
        f"{DELIVERIES}?overdue=yes&status__exact=assigned&q=order",
        f"{DELIVERIES}?overdue=no",
        f"{DELIVERIES}?courier__id__exact={courier.pk}",
        f"{DELIVERIES}?_facets=1&status__exact=assigned",
        f"{COURIERS}?_facets=1",
        change_url(delivery),
    ]


def test_every_page_answers_staff(admin_client: Client, pages: list[str]) -> None:
    for url in pages:
        assert admin_client.get(url).status_code == 200, url


def test_every_page_sends_anonymous_users_to_the_login(client: Client, pages: list[str]) -> None:
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login"))


def test_the_changelists_show_status_labels_overdue_and_the_waiting_count(admin_client: Client) -> None:
    create_delivery(courier=create_courier(), deadline=timezone.now() - timedelta(minutes=1))
    create_delivery()
    create_delivery()

    couriers = admin_client.get(COURIERS).content.decode()
    deliveries = admin_client.get(DELIVERIES).content.decode()

    assert "Orders waiting for a courier: 2" in couriers
    assert ">busy</span>" in couriers
    assert "Orders waiting for a courier: 2" in deliveries
    assert deliveries.count(">overdue</span>") == 1


def summary_links(html: str) -> dict[str, str]:
    """The fleet summary's links: text to href."""
    summary = re.search(r'<h2 id="fleet-summary">(.*?)</h2>', html, re.S).group(1)
    return {
        text: href.replace("&amp;", "&") for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', summary)
    }


@pytest.mark.parametrize("page", [COURIERS, DELIVERIES])
def test_the_summary_counts_link_to_the_lists_they_count(admin_client: Client, page: str) -> None:
    late = create_delivery(order_id="late", courier=create_courier(), deadline=timezone.now() - timedelta(minutes=1))
    create_delivery(order_id="in-time", courier=create_courier())
    waiting = create_delivery(order_id="waiting")
    disputed = create_disputed(order_id="disputed", courier=create_courier())
    create_courier(status=Courier.Status.PAUSED)

    links = summary_links(admin_client.get(page).content.decode())

    assert links == {
        "0 available": f"{COURIERS}?status__exact=available",
        "3 busy": f"{COURIERS}?status__exact=busy",
        "1 paused": f"{COURIERS}?status__exact=paused",
        "Orders waiting for a courier: 1": f"{DELIVERIES}?status__exact=awaiting_courier&disputed=no",
        "Overdue: 1": f"{DELIVERIES}?overdue=yes",
        "Disputed: 1": f"{DELIVERIES}?disputed=yes",
    }
    assert list(admin_client.get(links["Orders waiting for a courier: 1"]).context["cl"].result_list) == [waiting]
    assert list(admin_client.get(links["Overdue: 1"]).context["cl"].result_list) == [late]
    assert list(admin_client.get(links["Disputed: 1"]).context["cl"].result_list) == [disputed]
    assert len(admin_client.get(links["3 busy"]).context["cl"].result_list) == 3


def create_disputed(**fields) -> Delivery:
    """A delivery whose order an event announced completed, service-order still reading it active."""
    delivery = create_delivery(**fields)
    announce_end(delivery)
    return delivery


def test_a_disputed_delivery_is_labelled_and_filtered(admin_client: Client) -> None:
    disputed = create_disputed(courier=create_courier())
    create_delivery(courier=create_courier())

    html = admin_client.get(DELIVERIES).content.decode()
    undisputed = admin_client.get(DELIVERIES, {"disputed": "no"}).context["cl"].result_list

    assert html.count(">disputed</span>") == 1
    assert "an event said completed" in html
    assert disputed not in list(undisputed)
    assert len(undisputed) == 1


def test_the_dispute_actions_settle_many_at_once(admin_client: Client) -> None:
    first, second = (create_disputed(courier=create_courier()) for _ in range(2))
    kept = create_disputed(courier=create_courier())
    plain = create_delivery(courier=create_courier())

    accepted = act(admin_client, DELIVERIES, "accept_announced_end", first, second, plain)
    rejected = act(admin_client, DELIVERIES, "reject_announced_end", kept)

    assert set(Delivery.objects.filter(status="completed")) == {first, second}
    assert Courier.objects.filter(status=Courier.Status.AVAILABLE).count() == 2
    kept.refresh_from_db()
    assert (kept.status, kept.disputed) == ("assigned", False)
    assert f"Order {plain.order_id}: delivery of order {plain.order_id} is not disputed" in texts(accepted)
    assert "Ended 2 disputed delivery(ies) as announced; their couriers are free." in texts(accepted)
    assert "Rejected the announced end of 1 delivery(ies): they go on." in texts(rejected)


def readonly(html: str, field: str) -> str:
    """The value a delivery's page shows for `field`."""
    return re.search(rf'field-{field}".*?<div class="readonly">(.*?)</div>', html, re.S)[1]


def test_a_delivery_page_shows_the_dispute_and_the_dispatchers_verdict(admin_client: Client) -> None:
    delivery = create_disputed(courier=create_courier())

    before = admin_client.get(change_url(delivery)).content.decode()
    act(admin_client, DELIVERIES, "reject_announced_end", delivery)
    after = admin_client.get(change_url(delivery)).content.decode()

    assert (readonly(before, "end_announced"), readonly(before, "verdict")) == ("completed", "—")
    assert readonly(before, "order_status") == "cooking"
    assert (readonly(after, "end_announced"), readonly(after, "end_announced_at")) == ("—", "—")
    assert readonly(after, "verdict").startswith("rejected at ")


def test_a_disputed_waiting_order_has_no_place_in_the_queue(admin_client: Client) -> None:
    create_disputed(order_id="disputed")
    create_delivery(order_id="next")

    html = admin_client.get(DELIVERIES).content.decode()

    assert "<b>1</b>" in cell(html, "queue", 0)  # newest first: "next" is served first
    assert cell(html, "queue", 1) == "—"
    assert "Orders waiting for a courier: 1" in html


def test_the_waiting_count_links_to_the_queue_it_counts(admin_client: Client) -> None:
    create_disputed(order_id="disputed")
    waiting = create_delivery(order_id="waiting")

    links = summary_links(admin_client.get(DELIVERIES).content.decode())

    assert list(admin_client.get(links["Orders waiting for a courier: 1"]).context["cl"].result_list) == [waiting]


def test_the_deliveries_list_finds_an_order_by_its_id(admin_client: Client) -> None:
    wanted = create_delivery(order_id="A-17")
    create_delivery(order_id="B-2")

    response = admin_client.get(DELIVERIES, {"q": "a-1"})

    assert list(response.context["cl"].result_list) == [wanted]


def test_the_summary_stays_out_of_the_window_title(admin_client: Client) -> None:
    html = admin_client.get(DELIVERIES).content.decode()

    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "<a" not in title
    assert "Couriers:" not in title


def cell(html: str, field: str, row: int = 0) -> str:
    """The inner HTML of a change list's cell: `field` of the row-th row."""
    return re.findall(rf'<t[dh] class="field-{field}"[^>]*>(.*?)</t[dh]>', html, re.S)[row]


def test_the_deliveries_list_fits_overdue_into_the_deadline_and_shortens_long_ids(admin_client: Client) -> None:
    now = timezone.now()
    uuid = "b644f2ae-616f-4b6d-8439-29e8de9b9f57"
    create_delivery(order_id="done", courier=create_courier(name="Dan"), status=Delivery.Status.COMPLETED)
    create_delivery(order_id="waiting")
    create_delivery(
        order_id="in-time", courier=create_courier(name="Ann"), deadline=now + timedelta(minutes=12, seconds=30)
    )
    create_delivery(order_id=uuid, courier=create_courier(name="Bob"), deadline=now - timedelta(minutes=5, seconds=30))

    response = admin_client.get(DELIVERIES)

    html = response.content.decode()
    assert [column["text"] for column in response.context["result_headers"][1:]] == [
        "order id",
        "courier",
        "status",
        "queue",
        "order status",
        "deadline",
    ]
    late, in_time, waiting, done = (cell(html, "deadline_cell", row) for row in range(4))
    assert ">5 min late</span>" in late
    assert ">overdue</span>" in late
    assert "deadline " in late  # the absolute time, as a tooltip
    assert ">in 12 min</span>" in in_time
    assert "overdue" not in in_time
    assert ">—</span>" in waiting  # no deadline before a courier: the queue column says where it stands
    assert "<b>1</b>" in cell(html, "queue", 2)
    assert cell(html, "queue", 0) == "—"
    assert ">on time</span>" in done
    assert f'title="{uuid}"' in cell(html, "order_id_cell", 0)
    assert ">b644f2ae…</span>" in cell(html, "order_id_cell", 0)
    assert uuid not in re.sub(r'title="[^"]*"', "", cell(html, "order_id_cell", 0))
    assert ">in-time</span>" in cell(html, "order_id_cell", 1)
    assert ">Bob</span>" in cell(html, "courier_name", 0)


@pytest.mark.parametrize(
    ("late_by", "shown"),
    [
        (timedelta(seconds=20), "<1 min late"),
        (timedelta(minutes=59, seconds=5), "59 min late"),
        (timedelta(hours=2, seconds=5), "2 h late"),
        (timedelta(hours=2, minutes=5, seconds=5), "2 h 5 min late"),
        (timedelta(days=1, hours=3, seconds=5), "1 d 3 h late"),
    ],
)
def test_how_late_reads(admin_client: Client, late_by: timedelta, shown: str) -> None:
    create_delivery(courier=create_courier(), deadline=timezone.now() - late_by)

    html = admin_client.get(DELIVERIES).content.decode()

    assert f">{shown}</span>" in cell(html, "deadline_cell").replace("&lt;", "<")


def test_a_delivery_finished_after_its_deadline_says_how_late(admin_client: Client) -> None:
    delivery = create_delivery(courier=create_courier(), status=Delivery.Status.COMPLETED)
    Delivery.objects.filter(pk=delivery.pk).update(deadline=delivery.finished_at - timedelta(minutes=3, seconds=10))

    html = admin_client.get(DELIVERIES).content.decode()

    assert ">delivered 3 min late</span>" in cell(html, "deadline_cell")


def test_the_couriers_list_marks_an_overdue_current_delivery(admin_client: Client) -> None:
    now = timezone.now()
    late = create_courier(name="Late")
    create_delivery(
        order_id="c0ffee00-616f-4b6d-8439-29e8de9b9f57", courier=late, deadline=now - timedelta(minutes=7, seconds=30)
    )
    create_delivery(
        order_id="on-time", courier=create_courier(name="Punctual"), deadline=now + timedelta(minutes=9, seconds=30)
    )
    create_courier(name="Free")

    html = admin_client.get(COURIERS).content.decode()

    late_cell, free_cell, on_time_cell = (cell(html, "current_delivery", row) for row in range(3))
    assert ">7 min late</span>" in late_cell
    assert ">overdue</span>" in late_cell
    assert 'title="c0ffee00-616f-4b6d-8439-29e8de9b9f57"' in late_cell
    assert ">c0ffee00…</span>" in late_cell
    assert ">in 9 min</span>" in on_time_cell
    assert "overdue" not in on_time_cell
    assert free_cell == "—"


def test_the_couriers_list_puts_what_needs_a_dispatcher_first(admin_client: Client) -> None:
    now = timezone.now()
    create_courier(name="A paused", status=Courier.Status.PAUSED)
    create_delivery(courier=create_courier(name="B busy"), deadline=now + timedelta(minutes=9))
    create_courier(name="C free")
    create_delivery(courier=create_courier(name="D overdue"), deadline=now - timedelta(minutes=1))
    create_courier(name="E free")

    names = [courier.name for courier in admin_client.get(COURIERS).context["cl"].result_list]

    assert names == ["D overdue", "C free", "E free", "B busy", "A paused"]


def test_the_couriers_list_sorts_by_the_current_deadline(admin_client: Client) -> None:
    now = timezone.now()
    later = create_courier(name="Later")
    create_delivery(courier=later, deadline=now + timedelta(minutes=20))
    sooner = create_courier(name="Sooner")
    create_delivery(courier=sooner, deadline=now - timedelta(minutes=1))

    response = admin_client.get(f"{COURIERS}?o=5")

    assert list(response.context["cl"].result_list) == [sooner, later]


def test_a_courier_page_marks_its_overdue_delivery(admin_client: Client) -> None:
    courier = create_courier()
    create_delivery(courier=courier, status=Delivery.Status.COMPLETED)
    create_delivery(courier=courier, deadline=timezone.now() - timedelta(minutes=2, seconds=30))

    html = admin_client.get(change_url(courier)).content.decode()

    inline = html[html.index('id="deliveries-group"') :]
    assert inline.count(">overdue</span>") == 1
    assert ">2 min late</span>" in inline
    assert ">on time</span>" in inline


@pytest.mark.parametrize("facets", ["", "_facets=1&"])
def test_the_status_filters_use_the_labels_words(admin_client: Client, facets: str) -> None:
    create_delivery()

    deliveries = admin_client.get(f"{DELIVERIES}?{facets}").content.decode()
    couriers = admin_client.get(f"{COURIERS}?{facets}").content.decode()

    assert "Awaiting Courier" not in deliveries
    assert re.search(r'href="\?[^"]*status__exact=awaiting_courier[^"]*">Awaiting courier( \(1\))?</a>', deliveries)
    assert ">awaiting courier</span>" in deliveries
    assert re.search(r'href="\?[^"]*status__exact=busy[^"]*">Busy( \(0\))?</a>', couriers)


def test_a_courier_page_shows_its_latest_deliveries_only(admin_client: Client) -> None:
    courier = create_courier()
    for _ in range(25):
        create_delivery(courier=courier, status=Delivery.Status.COMPLETED)

    response = admin_client.get(change_url(courier))

    formset = response.context["inline_admin_formsets"][0].formset
    assert len(formset.get_queryset()) == 20
    assert "all 25 deliveries" in response.content.decode()


# --- couriers through the services -----------------------------------------------


def test_adding_a_courier_goes_through_the_service(admin_client: Client) -> None:
    waiting = create_delivery()

    response = admin_client.post(reverse("admin:couriers_courier_add"), NEW)

    assert response.status_code == 302
    courier = Courier.objects.get(phone=NEW["phone"])
    waiting.refresh_from_db()
    assert waiting.courier == courier  # courier_create hands the new courier the waiting order
    assert courier.status == Courier.Status.BUSY


def test_adding_a_courier_with_a_bad_phone_shows_the_form_again(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:couriers_courier_add"), {**NEW, "phone": "12345"})

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert not Courier.objects.exists()


def test_a_phone_taken_after_the_form_validated_is_a_form_error(admin_client: Client, monkeypatch) -> None:
    # Another request takes the phone between the form's check and the service: the form's check saw nothing.
    create_courier(name="Quicker", phone=NEW["phone"])
    monkeypatch.setattr(BaseModelForm, "validate_unique", lambda form: None)

    response = admin_client.post(reverse("admin:couriers_courier_add"), {**NEW, "name": "Slower"})

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == ["Courier with this Phone already exists."]
    assert list(Courier.objects.values_list("name", flat=True)) == ["Quicker"]


def test_a_conflict_from_the_service_is_shown_on_the_form(admin_client: Client, monkeypatch) -> None:
    courier = create_courier(name="Ann")

    def refuse(**details: str) -> Courier:
        raise Conflict("the courier changed meanwhile", code="conflict")

    monkeypatch.setattr("couriers.admin.services.courier_update", refuse)

    response = admin_client.post(change_url(courier), {**NEW, "name": "Anna", **inline_management(initial=0)})

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == ["the courier changed meanwhile"]
    courier.refresh_from_db()
    assert courier.name == "Ann"


def test_a_constraint_lost_to_a_concurrent_request_is_shown_on_the_form(admin_client: Client, monkeypatch) -> None:
    def lose_the_race(**details: str) -> Courier:
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr("couriers.admin.services.courier_create", lose_the_race)

    response = admin_client.post(reverse("admin:couriers_courier_add"), NEW)

    assert response.status_code == 200
    [error] = response.context["adminform"].form.non_field_errors()
    assert "came first" in error
    assert not Courier.objects.exists()


def test_editing_a_courier_goes_through_the_service_and_leaves_status_alone(admin_client: Client) -> None:
    courier = create_courier(name="Ann")
    create_delivery(courier=courier, status=Delivery.Status.COMPLETED)

    response = admin_client.post(
        change_url(courier), {**NEW, "name": "Anna", "status": "paused", **inline_management(initial=1)}
    )

    assert response.status_code == 302
    courier.refresh_from_db()
    assert (courier.name, courier.status) == ("Anna", Courier.Status.AVAILABLE)


def test_deleting_a_courier_without_deliveries(admin_client: Client) -> None:
    courier = create_courier()

    admin_client.post(reverse("admin:couriers_courier_delete", args=[courier.pk]), {"post": "yes"})

    assert not Courier.objects.filter(pk=courier.pk).exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_courier_with_deliveries_is_not_deleted_and_the_reason_shown(admin_client: Client, method: str) -> None:
    courier = create_courier()
    create_delivery(courier=courier, status=Delivery.Status.COMPLETED)

    response = getattr(admin_client, method)(
        reverse("admin:couriers_courier_delete", args=[courier.pk]), {"post": "yes"}, follow=True
    )

    assert response.redirect_chain[-1][0] == change_url(courier)
    assert any("keeps its history" in text for text in texts(response))
    assert Courier.objects.filter(pk=courier.pk).exists()


def test_there_is_no_bulk_delete_of_couriers(admin_client: Client) -> None:
    response = admin_client.get(COURIERS)

    actions = [name for name, _ in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert {"pause", "make_available"} <= set(actions)


def test_pause_action_pauses_free_couriers_and_reports_busy_ones(admin_client: Client) -> None:
    free = create_courier(name="Free")
    busy = create_courier(name="Busy")
    create_delivery(courier=busy)

    response = act(admin_client, COURIERS, "pause", free, busy)

    free.refresh_from_db()
    busy.refresh_from_db()
    assert (free.status, busy.status) == (Courier.Status.PAUSED, Courier.Status.BUSY)
    assert "Busy: the courier is on a delivery: pause it once the delivery ends" in texts(response)
    assert "Paused 1 courier(s)." in texts(response)


def test_make_available_action_hands_the_oldest_waiting_order(admin_client: Client) -> None:
    courier = create_courier(status=Courier.Status.PAUSED)
    oldest = create_delivery()
    create_delivery()

    response = act(admin_client, COURIERS, "make_available", courier)

    oldest.refresh_from_db()
    assert oldest.courier == courier
    assert "Made 1 courier(s) available (1 took a waiting order at once)." in texts(response)


def test_pausing_a_paused_courier_counts_no_change(admin_client: Client) -> None:
    paused = create_courier(name="Already", status=Courier.Status.PAUSED)
    free = create_courier(name="Free")

    response = act(admin_client, COURIERS, "pause", paused, free)

    assert texts(response) == ["Paused 1 courier(s); 1 already paused, left as they were."]
    assert texts(act(admin_client, COURIERS, "pause", paused)) == [
        "Paused 0 courier(s); 1 already paused, left as they were."
    ]


def test_making_an_available_courier_available_counts_no_change(admin_client: Client) -> None:
    response = act(admin_client, COURIERS, "make_available", create_courier())

    assert texts(response) == [
        "Made 0 courier(s) available (0 took a waiting order at once); 1 already available, left as they were."
    ]


# --- deliveries -----------------------------------------------------------------


def test_cancel_action_cancels_and_the_courier_takes_the_oldest_waiting_order(admin_client: Client) -> None:
    courier = create_courier()
    delivery = create_delivery(courier=courier)
    oldest = create_delivery()

    response = act(admin_client, DELIVERIES, "cancel_and_release", delivery)

    delivery.refresh_from_db()
    oldest.refresh_from_db()
    assert delivery.status == Delivery.Status.CANCELLED
    assert oldest.courier == courier
    assert "Cancelled 1 delivery(ies); their couriers are free." in texts(response)


def test_cancel_action_reports_finished_deliveries(admin_client: Client) -> None:
    done = create_delivery(order_id="A-1", courier=create_courier(), status=Delivery.Status.COMPLETED)

    response = act(admin_client, DELIVERIES, "cancel_and_release", done)

    done.refresh_from_db()
    assert done.status == Delivery.Status.COMPLETED
    assert "Order A-1: delivery of order A-1 is already completed" in texts(response)


def test_the_waiting_orders_list_in_serving_order_with_their_place(admin_client: Client) -> None:
    first, second, third = create_delivery(order_id="first"), create_delivery(order_id="second"), create_delivery()

    response = admin_client.get(f"{DELIVERIES}?status__exact=awaiting_courier")

    assert list(response.context["cl"].result_list) == [first, second, third]
    html = response.content.decode()
    assert [re.search(r"<b>(\d+)</b>", cell(html, "queue", row))[1] for row in range(3)] == ["1", "2", "3"]


def test_a_delivery_page_says_no_when_not_overdue(admin_client: Client) -> None:
    delivery = create_delivery(courier=create_courier())

    html = admin_client.get(change_url(delivery)).content.decode()

    assert re.search(r'field-overdue.*?<div class="readonly">no</div>', html, re.S)


def action_url(delivery: Delivery, slug: str) -> str:
    return reverse(f"admin:couriers_delivery_{slug}", args=[delivery.pk])


def test_a_delivery_page_offers_the_actions_that_apply(admin_client: Client) -> None:
    assigned = create_delivery(courier=create_courier())
    waiting = create_delivery()
    done = create_delivery(courier=create_courier(), status=Delivery.Status.COMPLETED)

    def offered(delivery: Delivery) -> list[str]:
        return re.findall(r'class="page-action">([^<]+)<', admin_client.get(change_url(delivery)).content.decode())

    assert offered(assigned) == ["Take the courier off", "Cancel the delivery"]
    assert offered(waiting) == ["Cancel the delivery"]
    assert offered(done) == []


@pytest.mark.parametrize("slug", ["cancel", "take_courier_off"])
def test_a_delivery_action_asks_for_confirmation_first(admin_client: Client, slug: str) -> None:
    delivery = create_delivery(order_id="A-1", courier=create_courier())

    response = admin_client.get(action_url(delivery, slug))

    assert response.status_code == 200
    assert 'type="submit" value="Yes,' in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.ASSIGNED


def test_cancelling_from_the_page_cancels_and_says_so(admin_client: Client) -> None:
    delivery = create_delivery(order_id="A-1", courier=create_courier())

    response = admin_client.post(action_url(delivery, "cancel"), follow=True)

    assert response.redirect_chain[-1][0] == change_url(delivery)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.CANCELLED
    assert texts(response) == ["Cancelled the delivery of order A-1; its courier, if it had one, is free."]


def test_taking_the_courier_off_from_the_page_queues_the_order(admin_client: Client) -> None:
    courier = create_courier()
    delivery = create_delivery(order_id="A-1", courier=courier)

    response = admin_client.post(action_url(delivery, "take_courier_off"), follow=True)

    delivery.refresh_from_db()
    courier.refresh_from_db()
    assert (delivery.status, courier.status) == (Delivery.Status.AWAITING_COURIER, Courier.Status.PAUSED)
    assert texts(response) == [
        "Took the courier off order A-1 (the courier is paused); the order waits in the queue in its place."
    ]


def test_an_action_that_no_longer_applies_is_refused_with_the_reason(admin_client: Client) -> None:
    delivery = create_delivery(order_id="A-1", courier=create_courier(), status=Delivery.Status.COMPLETED)

    page = admin_client.get(action_url(delivery, "cancel")).content.decode()
    response = admin_client.post(action_url(delivery, "cancel"), follow=True)

    assert "does not apply" in page
    assert 'value="Yes,' not in page
    assert texts(response) == ["Order A-1: delivery of order A-1 is already completed"]


def test_page_actions_need_the_dispatch_permission(client: Client) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(viewer)
    delivery = create_delivery(courier=create_courier())

    page = client.get(change_url(delivery)).content.decode()

    assert "page-action" not in page
    assert client.post(action_url(delivery, "cancel")).status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.ASSIGNED


def test_deliveries_cannot_be_added_or_edited(admin_client: Client) -> None:
    delivery = create_delivery(order_id="A-1")

    assert admin_client.get(reverse("admin:couriers_delivery_add")).status_code == 403
    admin_client.post(change_url(delivery), {"order_id": "B-2", "status": "cancelled"})
    delivery.refresh_from_db()
    assert (delivery.order_id, delivery.status) == ("A-1", Delivery.Status.AWAITING_COURIER)


def test_dispatching_needs_the_dispatch_permission(client: Client) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(viewer)
    delivery = create_delivery()

    response = client.get(DELIVERIES)
    act(client, DELIVERIES, "cancel_and_release", delivery)

    assert response.status_code == 200
    assert response.context["action_form"] is None  # no action left to offer
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.AWAITING_COURIER


# --- speed ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [COURIERS, DELIVERIES, f"{DELIVERIES}?overdue=yes", f"{DELIVERIES}?status__exact=awaiting_courier"]
)
def test_changelists_cost_a_fixed_number_of_queries(admin_client: Client, django_assert_max_num_queries, url) -> None:
    now = timezone.now()
    for i in range(50):
        # Half of the couriers late, half in time; every delivery state on the page.
        create_delivery(courier=create_courier(), deadline=now + timedelta(minutes=-1 if i % 2 else 10))
        create_delivery()
        create_delivery(courier=create_courier(), status=Delivery.Status.COMPLETED)

    # session, user, two counts, the page, the fleet summary's three: none per row.
    with django_assert_max_num_queries(9):
        response = admin_client.get(url)

    assert len(response.context["cl"].result_list) == (25 if "overdue" in url else 50)


def test_a_courier_page_costs_a_fixed_number_of_queries(admin_client: Client, django_assert_max_num_queries) -> None:
    courier = create_courier()
    for _ in range(50):
        create_delivery(courier=courier, status=Delivery.Status.COMPLETED)
    create_delivery(courier=courier, deadline=timezone.now() - timedelta(minutes=1))  # overdue, in the inline

    with django_assert_max_num_queries(7):
        assert admin_client.get(change_url(courier)).status_code == 200
