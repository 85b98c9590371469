"""Issuing and revoking API tokens. The key is shown once, when it is made; the database keeps only its hash."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from tokens.models import ApiToken

# Recording every request's use would be a write per request: once a minute is exact enough to spot unused ones.
LAST_USED_PRECISION = timedelta(minutes=1)


def token_create(*, user: AbstractBaseUser, days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`, valid `days` (default API_TOKEN_TTL_DAYS); its key, to be shown once."""
    ttl = timedelta(days=days if days is not None else settings.API_TOKEN_TTL_DAYS)
    return ApiToken.objects.create(user=user, expiry=ttl)


def tokens_revoke(tokens: QuerySet[ApiToken]) -> int:
    """Delete the tokens (they stop working at once); how many there were."""
    deleted, _ = tokens.delete()
    return deleted


def token_mark_used(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used is None or now - token.last_used >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
