import itertools

import pytest

from couriers.models import Courier
from couriers.services import courier_create
from tests.fakes import FakeOrderClient

_phones = itertools.count(10_000_000_000)


@pytest.fixture
def orders() -> FakeOrderClient:
    return FakeOrderClient()


@pytest.fixture
def make_courier():
    """Create a courier through the service, as every interface does."""

    def make(name: str = "Courier", transport_type: str = "scooter", status: str = Courier.Status.AVAILABLE) -> Courier:
        return courier_create(name=name, phone=f"+{next(_phones)}", transport_type=transport_type, status=status)

    return make
