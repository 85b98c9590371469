"""The database cut off mid-stream: an outage to wait out, not a thousand failing orders."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from couriers.models import Delivery, OrderFailure
from sandbox.simulator import Simulator
from sandbox.verify import verify
from tests.e2e.conftest import CHAOS, CONSISTENT, point_at, wait_until
from tests.e2e.test_resilience import make_fleet, settle
from tests.kafka_helpers import read_all, topic_size

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="cuts PostgreSQL's connections: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/courier",
    ),
]

# Long enough for a batch to meet it: a consumer's reads of its parked orders may each wait DB_POOL_TIMEOUT (2 s
# here) before its batch's decisions find the database down.
OUTAGE_SECONDS = 12


@contextmanager
def connections_cut() -> Iterator[None]:
    """Every connection to the test database but this test's own terminated, and new ones refused, until exit.

    Only the test database is touched: the cluster stays up for everyone else using it.
    """
    db = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]
    admin = psycopg.connect(
        host=db["HOST"] or "localhost",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    name = sql.Identifier(db["NAME"])
    try:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
            [db["NAME"], own_pid],
        )
        yield
    finally:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
        admin.close()


def test_a_database_outage_is_waited_out_with_a_handful_of_log_lines(
    kafka_broker, pipeline_topic, consumers, consumer_env, make_courier, transport
):
    make_fleet(make_courier, 10)
    with Simulator(
        bootstrap=kafka_broker,
        topic=pipeline_topic,
        time_scale=0.01,
        chaos=CHAOS,
        seed=31,
        reads=CONSISTENT,
        grpc_port=0,
    ) as simulator:
        point_at(simulator, consumer_env, transport)
        consumer_env["DB_POOL_TIMEOUT"] = "2"  # the pool's wait for a connection ends well within the outage
        simulator.create_orders(80, over=8.0)
        group = [consumers.start("--idle-exit", "10") for _ in range(2)]
        for member in group:  # the group settled: no rebalance swallows the outage
            consumers.wait_for_log(member, "assigned partitions", timeout=90)
        under_way = Delivery.objects.all()  # only real orders have one (foreign ids' 404s are knowledge only)
        wait_until(lambda: under_way.count() >= 10, 90, "work under way")
        with connections_cut():
            time.sleep(OUTAGE_SECONDS)  # events keep coming meanwhile
            assert all(member.poll() is None for member in group), "a consumer died of the outage"
        settle(simulator, completed=3)
        for member in group:
            assert consumers.wait_exit(member, timeout=180) == 0, consumers.log(member)[-3000:]

        record = simulator.record()
        report = verify(simulator.truth(), foreign_ids=record.unknown)
    assert report.ok, (report.summary(), report.mismatches[:10], report.courier_problems)

    dlq = f"{pipeline_topic}.dlq"
    dead = read_all(kafka_broker, dlq, expected=topic_size(kafka_broker, dlq))
    reasons = {dict(m.headers())["dlq.reason"].decode() for m in dead}
    assert not [reason for reason in reasons if reason.startswith("gave up")], "an order dead-lettered for the outage"
    assert not OrderFailure.objects.exists(), "the outage counted as orders' failures"

    logs = [consumers.log(member) for member in group]
    assert any("the database is down" in log for log in logs), "the outage never hit a consumer"
    for log in logs:
        about_it = [line for line in log.splitlines() if "database" in line or "Traceback" in line]
        assert len(about_it) <= 4, about_it
        assert log.count("the database is down") == log.count("the database is reachable again")
