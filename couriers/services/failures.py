"""Orders that keep failing: their attempts, counted across partitions and replicas."""

from collections.abc import Collection

from django.db import transaction

from couriers.models import OrderFailure

LAST_ERROR_LENGTH = 1000


def order_failure_record(*, order_id: str, error: str) -> int:
    """Count one more failed attempt at the order's events; returns the attempts so far."""
    with transaction.atomic():
        failure, created = OrderFailure.objects.select_for_update().get_or_create(
            order_id=order_id, defaults={"attempts": 1, "last_error": error[:LAST_ERROR_LENGTH]}
        )
        if not created:
            failure.attempts += 1
            failure.last_error = error[:LAST_ERROR_LENGTH]
            failure.save(update_fields=["attempts", "last_error", "last_failed_at"])
    return failure.attempts


def order_failures_clear(*, order_ids: Collection[str]) -> None:
    """These orders' events are done with (processed or dead-lettered): forget their failures."""
    if order_ids:
        OrderFailure.objects.filter(order_id__in=list(order_ids)).delete()
