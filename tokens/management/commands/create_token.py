"""Make an API token for a user and print its key: the only time it is shown (the database keeps its hash)."""

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tokens.services import token_create


class Command(BaseCommand):
    help = "Make an API token for USER; prints `Generated token KEY for user USER, valid until TIME`."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--days", type=int, help="days until it expires (default: API_TOKEN_TTL_DAYS)")

    def handle(self, *args: Any, username: str, days: int | None, **options: Any) -> None:
        if days is not None and days < 1:
            raise CommandError("--days must be 1 or more")
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        token, key = token_create(user=user, days=days)
        self.stdout.write(f"Generated token {key} for user {username}, valid until {token.expiry.isoformat()}")
