"""The search parameter, outside input: any value is either terms within the cap or a 400 naming `search`."""

from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from couriers.api.filters import SEARCH_MAX_TERM_LENGTH, SEARCH_MAX_TERMS, SearchFilter

FACTORY = APIRequestFactory()
# Words, separators DRF splits on, quotes it groups by, and the odd character.
SEARCH = st.text(st.sampled_from("ab7+ ,\"'\t\x00é"), max_size=400) | st.text(max_size=100)


def terms_of(search: str) -> list[str]:
    return SearchFilter().get_search_terms(Request(FACTORY.get("/", {"search": search})))


def outcome(search: str) -> list[str] | serializers.ValidationError:
    try:
        return terms_of(search)
    except serializers.ValidationError as exc:
        return exc


@given(SEARCH)
def test_any_search_is_capped_terms_or_a_400_naming_search(search: str) -> None:
    result = outcome(search)

    if isinstance(result, serializers.ValidationError):
        assert set(result.detail) == {"search"}
    else:
        assert len(result) <= SEARCH_MAX_TERMS
        assert all(len(term) <= SEARCH_MAX_TERM_LENGTH for term in result)


@given(st.lists(st.text("abc", min_size=1, max_size=SEARCH_MAX_TERM_LENGTH), min_size=1, max_size=SEARCH_MAX_TERMS))
def test_terms_within_the_cap_are_all_kept(words: list[str]) -> None:
    assert terms_of(" ".join(words)) == words
