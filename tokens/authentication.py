"""Token authentication under both keywords clients send: `Token <key>` and `Bearer <key>`, against hashed keys."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework.request import Request

from tokens.models import ApiToken
from tokens.services import token_mark_used


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's (the key hashed and compared with the stored digest; an expired token deleted), and records the
    token's last use."""

    keyword = "Token"

    def authenticate_header(self, request: Request) -> str:
        return self.keyword

    def validate_user(self, auth_token: ApiToken) -> tuple[AbstractBaseUser, ApiToken]:
        user, token = super().validate_user(auth_token)
        token_mark_used(token)
        return user, token


class BearerTokenAuthentication(TokenAuthentication):
    """The same tokens, sent as `Authorization: Bearer <key>`."""

    keyword = "Bearer"


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict:
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "Token <key>"}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")
