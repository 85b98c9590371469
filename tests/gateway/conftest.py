from collections.abc import Iterator

import pytest

from tests.gateway.scripted_service import ScriptedService, scripted_service


class FakeSleep:
    """Records the waits between retries instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def service() -> Iterator[ScriptedService]:
    with scripted_service() as service:
        yield service
