"""Outage: one warning when a dependency goes, one info line and its duration when it comes back."""

import logging

import pytest
from django.db import OperationalError, connection

from couriers import metrics
from couriers.consumer.outages import Outage
from couriers.database import database_answers


def test_an_outage_is_logged_once_each_way_and_timed(caplog):
    now = [10.0]
    outage = Outage("the database", clock=lambda: now[0])
    spent = metrics.OUTAGE_SECONDS.labels("the database")._value.get()

    with caplog.at_level(logging.INFO):
        outage.begin(RuntimeError("connection refused"))
        outage.begin(RuntimeError("connection refused"))
        now[0] = 17.5
        outage.end()
        outage.end()

    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "the database is down" in caplog.records[0].getMessage()
    assert "reachable again after 7.5s" in caplog.records[1].getMessage()
    assert metrics.OUTAGE_SECONDS.labels("the database")._value.get() == spent + 7.5
    assert not outage.active


@pytest.mark.django_db(transaction=True)  # the probe runs outside any transaction, as in the loop
def test_the_database_probe_answers_when_the_database_does():
    assert database_answers()


@pytest.mark.django_db(transaction=True)
def test_the_database_probe_fails_when_no_connection_can_be_made(monkeypatch):
    def refuse() -> None:
        raise OperationalError("connection refused")

    def refuse_outside_pool() -> None:
        raise connection.Database.OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", refuse)
    monkeypatch.setattr("couriers.database._connect_outside_pool", refuse_outside_pool)  # PostgreSQL's pool

    assert not database_answers()
