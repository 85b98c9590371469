"""The move of what we know of an order out of its delivery (migration 0010), on data as 0009 left it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("couriers", "0009_outbox")]
AFTER = [("couriers", "0010_order_knowledge")]


@pytest.fixture
def old_state():
    """The schema of 0009, migrated forward to the latest again after the test."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_readings_and_disputes_become_knowledge_and_tombstones_go(old_state):
    Delivery = old_state.get_model("couriers", "Delivery")
    now = timezone.now()
    announced = now - timedelta(minutes=3)
    Delivery.objects.create(
        order_id="live",
        status="awaiting_courier",
        order_status="delivering",
        order_checked_at=now,
        end_announced="completed",
        end_announced_at=announced,
        version=2,
    )
    Delivery.objects.create(order_id="ghost", status="cancelled", order_status="not_found", order_checked_at=now)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    knowledge = {k.order_id: k for k in apps.get_model("couriers", "OrderKnowledge").objects.all()}
    deliveries = apps.get_model("couriers", "Delivery").objects

    assert set(knowledge) == {"live", "ghost"}
    live = knowledge["live"]
    assert (live.read_status, live.read_at, live.end_announced, live.end_announced_at) == (
        "delivering",
        now,
        "completed",
        announced,
    )
    assert knowledge["ghost"].read_status == "not_found", "the 404 is remembered"
    assert list(deliveries.values_list("order_id", "version")) == [("live", 2)], "the tombstone is gone"
