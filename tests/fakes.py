"""Test doubles for what lies outside the project."""

from gateway.orders import Order, OrderNotFound, OrderServiceError


class FakeOrderClient:
    """service-order in memory: set an order's status, or an error to raise, per order id."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.errors: dict[str, OrderServiceError] = {}
        self.calls: list[str] = []

    def set(self, order_id: str, status: str) -> None:
        self.statuses[order_id] = status

    def fail(self, order_id: str, error: OrderServiceError) -> None:
        self.errors[order_id] = error

    def get_order(self, order_id: str) -> Order:
        self.calls.append(order_id)
        if order_id in self.errors:
            raise self.errors[order_id]
        if order_id not in self.statuses:
            raise OrderNotFound(order_id)
        return Order(id=order_id, status=self.statuses[order_id])
