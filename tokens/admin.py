"""Tokens in the admin: their prefix, owner, expiry and last use; never the key or its hash. Adding one shows its key
once; deleting one (or the "Revoke" action) stops it at once."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from tokens.models import ApiToken
from tokens.services import token_create, tokens_revoke


class NewTokenForm(ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["token_key", "user", "created", "expiry", "last_used"]
    list_filter = ["expiry", "last_used"]
    search_fields = ["token_key", "user__username"]
    raw_id_fields = ["user"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return ["user"] if obj is None else ["token_key", "user", "created", "expiry", "last_used"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return [] if obj is None else self.get_fields(request, obj)

    def get_form(self, request: HttpRequest, obj: ApiToken | None = None, **kwargs: Any) -> type[ModelForm]:
        if obj is None:
            kwargs["form"] = NewTokenForm
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: ModelForm, change: bool) -> None:
        if change:
            return  # a token is never edited: revoke it and make another
        token, key = token_create(user=obj.user)
        obj.pk = token.pk
        self.message_user(request, f"The new token, shown this once: {key}", messages.WARNING)

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        self.message_user(request, f"{tokens_revoke(queryset)} token(s) revoked.")
