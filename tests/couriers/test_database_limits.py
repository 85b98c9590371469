"""consume_orders' PostgreSQL sessions give up a row lock or a statement at their limits, never hang."""

import copy
import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from couriers.database import limit_session_waits
from couriers.models import Courier

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def limited():
    saved = copy.deepcopy(connections.settings["default"]["OPTIONS"])
    limit_session_waits(lock_timeout=0.2, statement_timeout=0.5)
    yield
    connections.settings["default"]["OPTIONS"].clear()
    connections.settings["default"]["OPTIONS"].update(saved)
    connection.close_pool()


def in_thread(work):
    """The work on a fresh thread: a session of its own, opened after the limits were set."""
    result: list[object] = []

    def run() -> None:
        try:
            result.append(work())
        except Exception as exc:
            result.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return result[0]


def show(setting: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {setting}")
        return cursor.fetchone()[0]


def test_new_sessions_carry_the_limits(limited):
    assert in_thread(lambda: (show("lock_timeout"), show("statement_timeout"))) == ("200ms", "500ms")


def test_a_row_lock_held_by_another_session_is_an_error_not_a_wait(limited, make_courier):
    courier = make_courier()

    def lock_it() -> object:
        with transaction.atomic():
            return Courier.objects.select_for_update().get(pk=courier.pk)

    holder_has_it, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            Courier.objects.select_for_update().get(pk=courier.pk)
            holder_has_it.set()
            release.wait(30)  # an idle transaction holding the row

    holder = threading.Thread(target=lambda: in_thread(hold))
    holder.start()
    try:
        assert holder_has_it.wait(10)
        outcome = in_thread(lock_it)
    finally:
        release.set()
        holder.join(30)
    assert isinstance(outcome, OperationalError)
    assert "lock timeout" in str(outcome)


def test_a_statement_past_its_limit_is_cancelled(limited):
    def sleep() -> object:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")

    outcome = in_thread(sleep)
    assert isinstance(outcome, OperationalError)
    assert "statement timeout" in str(outcome)
