import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from couriers.api.permissions import DISPATCHERS_GROUP, READERS_GROUP
from tests.fakes import FakeOrderClient
from tests.groups import migrated_group
from tokens.services import token_create


def _token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=user)[1]}")
    return client


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def reader(db: None) -> APIClient:
    """A member of the readers group: reads couriers (without their phones) and deliveries."""
    user = User.objects.create_user("reader")
    user.groups.add(migrated_group(READERS_GROUP))
    return _token_client(user)


@pytest.fixture
def nobody(db: None) -> APIClient:
    """A signed-in user without any permission."""
    return _token_client(User.objects.create_user("nobody"))


def dispatcher_user() -> User:
    """A staff member of the dispatchers group that the data migration made."""
    user = User.objects.create_user("dispatcher", is_staff=True)
    user.groups.add(migrated_group(DISPATCHERS_GROUP))
    return user


@pytest.fixture
def dispatcher(db: None) -> APIClient:
    return _token_client(dispatcher_user())


@pytest.fixture
def staff(db: None) -> APIClient:
    """Staff without any permission: staff status grants no write."""
    return _token_client(User.objects.create_user("staff", is_staff=True))


@pytest.fixture
def superuser(db: None) -> APIClient:
    return _token_client(User.objects.create_superuser("root"))


@pytest.fixture
def fake_orders(monkeypatch: pytest.MonkeyPatch, orders: FakeOrderClient) -> FakeOrderClient:
    """service-order as the API views see it."""
    monkeypatch.setattr("couriers.api.views.default_order_client", lambda: orders)
    return orders
