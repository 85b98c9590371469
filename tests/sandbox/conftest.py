"""Fixtures of the simulator's API tests; each module gives its own `simulator` (with the APIs it serves)."""

import pytest

from sandbox.simulator import Simulator


@pytest.fixture
def order_id(simulator: Simulator) -> str:
    order_id = simulator.create_order()
    simulator.freeze()  # still "created" whatever the test's pace
    return order_id
