"""API tokens, stored as a hash (django-rest-knox): the table holds no usable key, only its first characters."""

from django.db import models
from knox.models import AbstractAuthToken


class ApiToken(AbstractAuthToken):
    """knox's token (digest, token_key: the key's first 15 characters, user, created, expiry) and when it was last
    used, to find and revoke the ones nobody uses."""

    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.token_key}... ({self.user})"
