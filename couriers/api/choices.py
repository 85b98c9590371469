"""Choice fields and filters whose refusal lists the valid choices, so a client can correct itself."""

from collections.abc import Iterable
from typing import Any

import django_filters
from rest_framework import serializers


def _listed(choices: Iterable[tuple[Any, Any]]) -> str:
    return ", ".join(str(value) for value, _ in choices)


class ChoiceField(serializers.ChoiceField):
    def __init__(self, choices: Iterable[tuple[Any, Any]] | Iterable[Any], **kwargs: Any) -> None:
        super().__init__(choices, **kwargs)
        self.error_messages["invalid_choice"] = (
            f'"{{input}}" is not a valid choice: use one of {", ".join(map(str, self.choices))}.'
        )


class ChoiceFilter(django_filters.ChoiceFilter):
    def __init__(self, *, choices: list[tuple[Any, Any]], **kwargs: Any) -> None:
        message = f'"%(value)s" is not a valid choice: use one of {_listed(choices)}.'
        super().__init__(choices=choices, error_messages={"invalid_choice": message}, **kwargs)
