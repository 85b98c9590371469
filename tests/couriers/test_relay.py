"""The outbox relay: rows published in order per order, marked only once the broker acknowledged them."""

import itertools
import json
import threading
from datetime import timedelta
from io import StringIO
from uuid import uuid4

import pytest
from confluent_kafka import KafkaError, Producer
from django.core.management import call_command
from django.db import connections, transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from couriers.consumer.backoff import Backoff
from couriers.models import OutboxEvent
from couriers.relay.publisher import Publisher, relay_producer_config
from couriers.relay.relay import KafkaDown, Relay, RelayOptions, acknowledged_in_order
from couriers.services import order_event_handle
from couriers.services.outbox import outbox_claim
from sandbox.stream import check_stream
from tests.fakes import FakeProducer
from tests.kafka_helpers import read_all

OPTIONS = RelayOptions(batch_size=100, poll_interval=0.05, retention=timedelta(hours=1), backoff=Backoff(0.01, 0.05))


def relay_to(bootstrap: str, topic: str, *, publish_timeout: float = 10.0, batch_size: int = 100) -> Relay:
    producer = Producer(relay_producer_config(publish_timeout=publish_timeout, **{"bootstrap.servers": bootstrap}))
    options = RelayOptions(**{**OPTIONS.__dict__, "batch_size": batch_size})
    return Relay(Publisher(lambda: producer, topic, publish_timeout=publish_timeout), options)


def make_events(orders, make_courier) -> None:
    """o1 assigned then completed, o2 queued then assigned (o1's courier), o3 queued: five events."""
    make_courier()
    for order_id in ("o1", "o2", "o3"):
        orders.set(order_id, "cooking")
        order_event_handle(order_id=order_id, event_status="created", client=orders)
    orders.set("o1", "delivered")
    order_event_handle(order_id="o1", event_status="delivered", client=orders)


@pytest.mark.django_db
def test_rows_go_out_keyed_by_order_in_order_and_are_marked(kafka_broker, topic, orders, make_courier):
    make_events(orders, make_courier)
    relay = relay_to(kafka_broker, topic)
    assert relay.step() == 5
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()
    assert relay.step() == 0  # nothing waits: nothing published again

    messages = read_all(kafka_broker, topic, expected=5)
    assert len(messages) == 5
    by_order: dict[str, list[tuple[int, str]]] = {}
    for message in messages:
        event = json.loads(message.value())
        assert message.key().decode() == event["order_id"]
        assert dict(message.headers())["event_id"].decode() == event["event_id"]
        by_order.setdefault(event["order_id"], []).append((event["version"], event["type"]))
    assert by_order == {
        "o1": [(1, "assigned"), (2, "completed")],
        "o2": [(1, "queued"), (2, "assigned")],
        "o3": [(1, "queued")],
    }


@pytest.mark.django_db
def test_kafka_down_leaves_every_row_waiting(orders, make_courier, caplog):
    make_events(orders, make_courier)
    relay = relay_to("127.0.0.1:9", "nowhere", publish_timeout=0.5)  # nothing listens on port 9
    with pytest.raises(KafkaDown):
        relay.publish_once()
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 5
    assert relay.step() == 0
    assert relay.failures == 1
    assert "Kafka is down" in caplog.text


@pytest.mark.django_db
def test_a_relay_dying_after_the_broker_took_its_rows_leaves_them_to_be_published_again(
    kafka_broker, topic, orders, make_courier
):
    make_events(orders, make_courier)
    relay = relay_to(kafka_broker, topic)
    publish = relay.publisher.publish

    def publish_then_die(rows):
        publish(rows)  # acknowledged by the broker...
        raise SystemExit("killed before the rows were marked")  # ...but the process dies before its commit

    relay.publisher.publish = publish_then_die
    with pytest.raises(SystemExit):
        relay.publish_once()
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 5

    assert relay_to(kafka_broker, topic).step() == 5  # the next relay
    stream = check_stream(message.value() for message in read_all(kafka_broker, topic, expected=10))
    assert (stream.events, stream.duplicates) == (10, 5)
    assert stream.ok, stream.problems


@pytest.mark.django_db
def test_published_rows_are_pruned_after_the_retention(kafka_broker, topic, orders, make_courier):
    make_events(orders, make_courier)
    relay = relay_to(kafka_broker, topic)
    relay.step()
    assert OutboxEvent.objects.count() == 5  # published just now: kept for the retention
    OutboxEvent.objects.filter(order_id="o1").update(published_at=timezone.now() - timedelta(hours=2))
    relay.next_prune = 0.0  # the next round prunes
    relay.step()
    assert sorted(OutboxEvent.objects.values_list("order_id", flat=True)) == ["o2", "o2", "o3"]


class Row:
    def __init__(self, pk: int, order_id: str) -> None:
        self.pk = pk
        self.order_id = order_id


@given(
    orders_of_rows=st.lists(st.sampled_from("abc"), max_size=30),
    acknowledged=st.sets(st.integers(min_value=0, max_value=29)),
)
def test_what_is_marked_is_each_orders_acknowledged_prefix(orders_of_rows, acknowledged):
    rows = [Row(pk, order_id) for pk, order_id in enumerate(orders_of_rows)]
    marked = acknowledged_in_order(rows, acknowledged)
    for order_id in set(orders_of_rows):
        of_order = [row.pk for row in rows if row.order_id == order_id]
        prefix = list(itertools.takewhile(lambda pk: pk in acknowledged, of_order))
        assert [pk for pk in marked if pk in of_order] == prefix


def test_a_row_not_acknowledged_holds_back_the_later_rows_of_its_order_only():
    rows = [Row(1, "a"), Row(2, "b"), Row(3, "a"), Row(4, "b"), Row(5, "c")]
    assert acknowledged_in_order(rows, acknowledged={1, 3, 4, 5}) == [1, 3, 5]
    assert acknowledged_in_order(rows, acknowledged=set()) == []


@pytest.mark.postgres  # row locks (SKIP LOCKED) are PostgreSQL's; SQLite runs one writer at a time
@pytest.mark.django_db(transaction=True)
def test_two_relays_never_hold_rows_of_one_order(orders, make_courier):
    make_events(orders, make_courier)
    holding = threading.Event()
    release = threading.Event()
    first: list[tuple[str, int]] = []

    def first_relay() -> None:
        try:
            with transaction.atomic():
                first.extend((row.order_id, row.version) for row in outbox_claim(limit=1))
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_relay)
    thread.start()
    assert holding.wait(10)
    # An event of o1 committed after the first relay claimed o1: it must wait for that relay's rows.
    later = OutboxEvent.objects.filter(order_id="o1").last()
    OutboxEvent.objects.create(
        event_id=uuid4(), order_id="o1", version=3, type="cancelled", payload={}, created_at=later.created_at
    )
    try:
        with transaction.atomic():
            second = [(row.order_id, row.version) for row in outbox_claim(limit=10)]
    finally:
        release.set()
        thread.join(10)
    assert first == [("o1", 1), ("o1", 2)]
    assert sorted(second) == [("o2", 1), ("o2", 2), ("o3", 1)]


@pytest.mark.django_db
def test_watch_deliveries_prints_each_event_and_a_count_per_type(kafka_broker, topic, orders, make_courier, settings):
    make_events(orders, make_courier)
    relay_to(kafka_broker, topic).step()
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker
    settings.OUTBOX_TOPIC = topic
    out = StringIO()
    call_command("watch_deliveries", "--from-beginning", "--idle-exit", "10", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 6
    assert any("order o1  v2  completed courier" in line and "[reading]" in line for line in lines)
    assert lines[-1] == "assigned 2, completed 1, queued 2"


class FatalProducer(FakeProducer):
    """The broker's answer to an idempotent producer that lost its sequence: a fatal error on every message."""

    def flush(self, timeout: float) -> int:
        for on_delivery, _ in self.reports:
            on_delivery(KafkaError(KafkaError._FATAL, "fenced", fatal=True), None)
        self.reports = []
        return 0


@pytest.mark.django_db
def test_a_producer_failed_for_good_is_replaced_and_the_rows_go_out_with_the_new_one(orders, make_courier):
    make_events(orders, make_courier)
    producers = iter([FatalProducer(), FakeProducer()])
    relay = Relay(Publisher(lambda: next(producers), "t", publish_timeout=1.0), OPTIONS)
    assert relay.step() == 0  # nothing acknowledged: every row waits
    assert relay.step() == 5  # the new producer
    assert len(relay.publisher.producer.sent) == 5
