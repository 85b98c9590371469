import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from couriers.api.permissions import DISPATCHERS_GROUP
from tests.fakes import FakeOrderClient


def _token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def reader(db: None) -> APIClient:
    """A signed-in user with no special rights: reads only."""
    return _token_client(User.objects.create_user("reader"))


@pytest.fixture
def dispatcher(db: None) -> APIClient:
    user = User.objects.create_user("dispatcher")
    user.groups.add(Group.objects.create(name=DISPATCHERS_GROUP))
    return _token_client(user)


@pytest.fixture
def staff(db: None) -> APIClient:
    return _token_client(User.objects.create_user("staff", is_staff=True))


@pytest.fixture
def fake_orders(monkeypatch: pytest.MonkeyPatch, orders: FakeOrderClient) -> FakeOrderClient:
    """service-order as the API views see it."""
    monkeypatch.setattr("couriers.api.views.default_order_client", lambda: orders)
    return orders
