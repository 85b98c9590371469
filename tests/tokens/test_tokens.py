"""API tokens: only a hash is stored, each expires, its last use is recorded, operators revoke one or all, and the
admin shows a prefix. DRF's plaintext tokens of before are hashed by a migration and keep working."""

import hashlib
import importlib
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from couriers.api.permissions import READERS_GROUP
from tests.groups import migrated_group
from tokens.models import ApiToken
from tokens.services import token_create

pytestmark = pytest.mark.django_db

COURIERS = "/api/v1/couriers/"


@pytest.fixture
def reader_user() -> User:
    user = User.objects.create_user("team-billing")
    user.groups.add(migrated_group(READERS_GROUP))
    return user


def status_with(key: str, keyword: str = "Token") -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    return client.get(COURIERS).status_code


def create_token(*args: str) -> str:
    out = StringIO()
    call_command("create_token", *args, stdout=out)
    return out.getvalue().split()[2]  # "Generated token KEY for user ..."


def test_the_table_holds_a_hash_and_a_prefix_never_the_key(reader_user: User) -> None:
    key = create_token("team-billing")

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tokens_apitoken")
        (row,) = cursor.fetchall()

    assert not any(key in str(value) for value in row)
    assert hashlib.sha512(key.encode()).hexdigest() in row
    assert key[:15] in row
    assert status_with(key) == 200
    assert status_with(key, "Bearer") == 200


def test_a_token_expires_after_its_days(reader_user: User) -> None:
    key = create_token("team-billing", "--days", "3")
    token = ApiToken.objects.get()
    assert timedelta(days=2, hours=23) < token.expiry - timezone.now() <= timedelta(days=3)

    ApiToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))

    assert status_with(key) == 401
    assert not ApiToken.objects.exists()  # knox deletes an expired token when it is shown


def test_the_default_lifetime_is_api_token_ttl_days(reader_user: User, settings) -> None:
    token, _ = token_create(user=reader_user)

    assert token.expiry - token.created == pytest.approx(
        timedelta(days=settings.API_TOKEN_TTL_DAYS), abs=timedelta(seconds=5)
    )


def test_the_last_use_is_recorded(reader_user: User) -> None:
    key = create_token("team-billing")
    assert ApiToken.objects.get().last_used is None

    status_with(key)

    assert ApiToken.objects.get().last_used is not None


@pytest.mark.parametrize("which", ["prefix", "user", "all"])
def test_revoked_tokens_stop_working_at_once(reader_user: User, which: str) -> None:
    other = User.objects.create_user("other")
    other.groups.add(migrated_group(READERS_GROUP))
    key, other_key = create_token("team-billing"), create_token("other")
    argument = {"prefix": ["--prefix", key[:10]], "user": ["--user", "team-billing"], "all": ["--all"]}[which]

    call_command("revoke_tokens", *argument, stdout=StringIO())

    assert status_with(key) == 401
    assert status_with(other_key) == (401 if which == "all" else 200)


def test_an_unknown_user_gets_no_token() -> None:
    with pytest.raises(Exception, match="no user 'ghost'"):
        call_command("create_token", "ghost")


def test_the_admin_shows_a_prefix_and_shows_a_new_key_once(reader_user: User) -> None:
    key = create_token("team-billing")
    client = Client()
    client.force_login(User.objects.create_superuser("root"))

    listing = client.get("/admin/tokens/apitoken/").content.decode()
    added = client.post("/admin/tokens/apitoken/add/", {"user": reader_user.pk}, follow=True).content.decode()

    assert key[:15] in listing
    assert key not in listing
    assert "column-digest" not in listing  # the hash is only in the links
    new_key = added.split("shown this once: ")[1].split("<")[0].strip()
    assert status_with(new_key) == 200
    assert new_key not in client.get("/admin/tokens/apitoken/").content.decode()


def test_the_migration_hashes_drfs_plaintext_tokens_which_keep_working(reader_user: User) -> None:
    migration = importlib.import_module("tokens.migrations.0002_hash_plaintext_tokens")
    key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # DRF's shape: 40 hex characters
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, user_id integer, created date)")
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [key, reader_user.pk, "2026-01-01"])

    editor = SimpleNamespace(connection=connection, quote_name=connection.ops.quote_name)
    migration.hash_plaintext_tokens(apps, editor)

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)
    assert ApiToken.objects.get().expiry > timezone.now()
    assert status_with(key) == 200
