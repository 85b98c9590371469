"""One order failing while others do not: retried up to a limit, then given up (dead-lettered).

The attempts are counted in the database (couriers.models.OrderFailure), so a restart or a
rebalance does not reset them: an order that always fails reaches the limit whoever retries it.
"""

import logging
from collections.abc import Collection
from dataclasses import dataclass

from django.db import DatabaseError

from couriers import metrics
from couriers.consumer.dead_letters import ATTEMPTS, LAST_ERROR
from couriers.services import order_failure_record, order_failures_clear

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GiveUp:
    """The order's events go to the dead-letter topic with this reason and these headers."""

    reason: str
    headers: tuple[tuple[str, bytes], ...]


class OrderFailures:
    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def count(self, order_id: str, error: BaseException | None) -> GiveUp | None:
        """One more failed attempt: a GiveUp once the order reached the limit, else None (retry later)."""
        described = f"{type(error).__name__}: {error}"
        try:
            attempts = order_failure_record(order_id=order_id, error=described)
        except DatabaseError as exc:
            logger.warning("failed attempt of order %s not counted: %s", order_id, exc, extra={"order_id": order_id})
            return None
        if attempts < self.max_attempts:
            logger.warning(
                "order %s failed (attempt %s of %s), retrying with backoff: %s",
                order_id,
                attempts,
                self.max_attempts,
                described,
                extra={"order_id": order_id},
            )
            return None
        metrics.GAVE_UP.inc()
        logger.error(
            "order %s gave up after %s attempts, its events dead-lettered: %s",
            order_id,
            attempts,
            described,
            extra={"order_id": order_id, "outcome": "dead_lettered"},
        )
        headers = ((ATTEMPTS, str(attempts).encode()), (LAST_ERROR, described.encode(errors="replace")[:1000]))
        return GiveUp(f"gave up after {attempts} failed attempts", headers)

    def clear(self, order_ids: Collection[str]) -> None:
        """Done with these orders (processed or dead-lettered): their next failure counts from one."""
        try:
            order_failures_clear(order_ids=order_ids)
        except DatabaseError as exc:
            logger.warning("failures of %s orders not cleared: %s", len(order_ids), exc)
