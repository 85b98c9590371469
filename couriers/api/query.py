"""Strict query strings: a parameter an endpoint does not take, or one given twice, is a 400 naming the valid
ones. Silently ignored, `?courier_id=2` (the filter is `courier`) would list every delivery."""

from typing import Any

from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

# DRF's URL_FORMAT_OVERRIDE: ?format=json (or api, for the browsable API) chooses the renderer.
ANY_ENDPOINT = ("format",)


def query_parameters(view: APIView) -> list[str]:
    """The query parameters `view` takes, in the order its documentation lists them."""
    names: list[str] = []
    filterset_class = getattr(view, "filterset_class", None)
    if filterset_class is not None:
        names.extend(filterset_class.base_filters)
    for backend in getattr(view, "filter_backends", []):
        if issubclass(backend, filters.SearchFilter):
            names.append(backend.search_param)
        if issubclass(backend, filters.OrderingFilter):
            names.append(backend.ordering_param)
    paginator = getattr(view, "paginator", None) if hasattr(view, "list") else None
    if paginator is not None:
        names.extend([paginator.page_query_param, paginator.page_size_query_param])
    return names


def check_query_parameters(request: Request, view: APIView) -> None:
    """Raise a 400 naming each unknown or repeated parameter and saying what is valid."""
    valid = query_parameters(view)
    errors: dict[str, list[str]] = {}
    for name in request.query_params:
        if name not in valid and name not in ANY_ENDPOINT:
            errors[name] = [_unknown(valid)]
        elif len(request.query_params.getlist(name)) > 1:
            errors[name] = ["Give this parameter once: it takes one value."]
    if errors:
        raise ValidationError(errors)


def _unknown(valid: list[str]) -> str:
    if not valid:
        return "Unknown query parameter: this endpoint takes none."
    return f"Unknown query parameter: use one of {', '.join(valid)}."


class StrictQueryParameters:
    """A view mixin: the query string is checked once the request is authenticated, before the view runs."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        check_query_parameters(request, self)  # type: ignore[arg-type]
