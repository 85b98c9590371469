"""The database before a run: schema, the demo's users and their tokens, the fleet, no deliveries of earlier runs."""

import secrets
from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from couriers.api.permissions import DISPATCHERS_GROUP, READERS_GROUP
from couriers.models import Courier, Delivery, OrderKnowledge, OutboxEvent
from couriers.services import courier_create
from tokens.services import token_create, tokens_revoke

USERNAME = "demo"
DISPATCHER = "dispatcher"
READER = "reader"
# 555-01XX numbers are reserved for fiction: no demo courier ever has a real person's phone.
PHONE_FORMAT = "+1555{:07d}"
FIRST_NAMES = ("Anna", "Boris", "Chen", "Dina", "Emil", "Farah", "Gleb", "Hana", "Ivan", "Julia")
LAST_NAMES = ("Petrova", "Smirnov", "Kowalski", "Nguyen", "Okafor", "Silva", "Novak", "Haddad")
TRANSPORTS = tuple(Courier.Transport.values)


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str  # what the user shows, as the demo says it
    password: str  # empty: the user only has a token (no admin)
    token: str
    existed: bool  # its password was reset


@dataclass(frozen=True)
class Fleet:
    created: int
    reused: int
    total: int  # every courier in the database, those created outside the demo included


@dataclass(frozen=True)
class Cleared:
    deliveries: int
    couriers_freed: int


def database_label() -> str:
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"SQLite {settings['NAME']}"
    return f"{connection.vendor} {settings['NAME']} on {settings.get('HOST') or 'localhost'}"


def migrate() -> None:
    call_command("migrate", interactive=False, verbosity=0)


def demo_users() -> list[DemoUser]:
    """`demo`, a superuser; `dispatcher`, in the dispatchers group (what a dispatcher sees and may do); `reader`,
    in the readers group: another team's reads. New passwords and new API tokens each run (the earlier tokens
    revoked: a token's key is shown only when it is made)."""
    return [
        _user(USERNAME, "superuser", superuser=True),
        _user(DISPATCHER, "the dispatchers group", group=DISPATCHERS_GROUP),
        _user(READER, "API reads only", group=READERS_GROUP, staff=False),
    ]


def _user(username: str, role: str, *, superuser: bool = False, group: str = "", staff: bool = True) -> DemoUser:
    user, created = User.objects.get_or_create(username=username)
    user.is_staff, user.is_superuser, user.is_active = staff, superuser, True
    password = secrets.token_urlsafe(12) if staff else ""
    if staff:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    if group:
        user.groups.add(Group.objects.get(name=group))
    tokens_revoke(user.auth_token_set.all())
    _, key = token_create(user=user)
    return DemoUser(username, role, password, key, existed=not created)


def clear_deliveries() -> Cleared:
    """Forget earlier runs, so that the report and the check are about this one."""
    with transaction.atomic():
        deleted, _ = Delivery.objects.all().delete()
        # And what we knew of their orders (answers, disputes): a run with the same seed has the same ids.
        OrderKnowledge.objects.all().delete()
        OutboxEvent.objects.all().delete()  # their events: this run's broker and stream are new
        # Their deliveries are gone, and no service frees a courier without one: reset them here,
        # with the day's load, so that dispatch spreads this run's orders as on a fresh day.
        freed = Courier.objects.filter(status=Courier.Status.BUSY).update(
            status=Courier.Status.AVAILABLE, idle_since=timezone.now()
        )
        Courier.objects.update(deliveries_on_load_date=0, load_date=None)
    return Cleared(deleted, freed)


def ensure_fleet(size: int) -> Fleet:
    """Couriers 0..size-1 of every transport type; those an earlier run created are kept as they are."""
    existing = set(Courier.objects.filter(phone__startswith="+1555").values_list("phone", flat=True))
    created = 0
    for index in range(size):
        phone = PHONE_FORMAT.format(index)
        if phone not in existing:
            courier_create(name=courier_name(index), phone=phone, transport_type=TRANSPORTS[index % len(TRANSPORTS)])
            created += 1
    return Fleet(created=created, reused=size - created, total=Courier.objects.count())


def courier_name(index: int) -> str:
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    rounds = index // (len(FIRST_NAMES) * len(LAST_NAMES))
    return f"{first} {last}" + (f" {rounds + 1}" if rounds else "")
