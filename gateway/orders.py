"""What the courier service needs from service-order, independent of how it is fetched."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# The longest status the courier service stores (couriers.OrderKnowledge.read_status).
STATUS_MAX_LENGTH = 32


@dataclass(frozen=True)
class Order:
    id: str
    status: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


class OrderClient(Protocol):
    def get_order(self, order_id: str) -> Order:
        """The order as service-order sees it now. Raises an OrderServiceError subclass."""
        ...


class OrderServiceError(Exception):
    """Any failure to learn an order's status."""


class OrderNotFound(OrderServiceError):
    """service-order answered 404: the order does not exist, or was deleted."""


class OrderRequestRejected(OrderServiceError):
    """service-order refused the request itself (400 and the like): retrying cannot help."""


class OrderServiceUnavailable(OrderServiceError):
    """service-order could not be reached or kept failing after every retry: try again later."""


class OrderAnswerTooSlow(OrderServiceUnavailable):
    """One call's answer did not end by its deadline (ORDER_SERVICE_DEADLINE): retried later, like any."""


class BadOrderAnswer(OrderServiceError):
    """service-order answered 200 with something that is not an order (not JSON, no status, too big)."""


# Failures that say nothing about the order: the event must be retried later, never dropped.
RETRY_LATER = (OrderServiceUnavailable, BadOrderAnswer)


# Asked for when no order was answered yet: not found is an answer. A well-formed id that no order has, so
# both APIs look it up (gRPC answers an id it refuses with a failure like any order's, not a rejection).
PROBE_ORDER_ID = "00000000-0000-0000-0000-000000000000"


def service_answers(client: OrderClient, order_id: str) -> bool:
    """The probe of service-order: does it answer for an order it answered for before?"""
    try:
        client.get_order(order_id)
    except RETRY_LATER:
        return False
    except OrderServiceError:
        return True  # an answer all the same: not found, rejected
    return True
