"""Staff passwords must pass Django's validators: short, common, numeric or name-like ones are refused."""

import pytest
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db


def change_password(user: User, password: str) -> AdminPasswordChangeForm:
    return AdminPasswordChangeForm(user, {"password1": password, "password2": password})


@pytest.mark.parametrize("password", ["a", "password1234", "12345678901234", "dispatcher-ann", "short-Pw1"])
def test_the_admin_refuses_a_weak_password(password: str) -> None:
    user = User.objects.create_user("dispatcher-ann", is_staff=True)

    form = change_password(user, password)

    assert not form.is_valid()
    assert form.errors["password2"]


def test_the_admin_takes_a_long_uncommon_password() -> None:
    user = User.objects.create_user("dispatcher-ann", is_staff=True)

    assert change_password(user, "violet-harbour-tram-42").is_valid()
