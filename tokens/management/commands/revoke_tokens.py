"""Revoke API tokens: one by its prefix, every token of a user, or every token there is."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tokens.models import ApiToken
from tokens.services import tokens_revoke


class Command(BaseCommand):
    help = "Revoke API tokens (they stop working at once): --prefix PREFIX, --user USER or --all."

    def add_arguments(self, parser: ArgumentParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--prefix", help="the token's first characters, as the admin lists them (8 or more)")
        which.add_argument("--user", help="every token of this user")
        which.add_argument("--all", action="store_true", help="every token of every user")

    def handle(self, *args: Any, prefix: str | None, user: str | None, all: bool, **options: Any) -> None:
        if prefix is not None and len(prefix) < 8:
            raise CommandError("--prefix needs 8 or more characters, so that it names one token")
        tokens = ApiToken.objects.all()
        if prefix is not None:
            tokens = tokens.filter(token_key__startswith=prefix)
        elif user is not None:
            tokens = tokens.filter(user__username=user)
        self.stdout.write(f"{tokens_revoke(tokens)} token(s) revoked")
