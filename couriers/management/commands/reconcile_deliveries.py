"""python manage.py reconcile_deliveries: repair drift from lost or early events (cron-friendly)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from couriers.management.arguments import non_negative_int
from couriers.services import deliveries_reconcile
from gateway.client import default_order_client


class Command(BaseCommand):
    help = (
        "Check open deliveries whose order was last checked more than --older-than seconds ago, "
        "and every overdue one, against service-order, and apply the same rules as an event would."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=non_negative_int,
            default=settings.RECONCILE_OLDER_THAN,
            metavar="SECONDS",
            help="only deliveries not checked for this long (default %(default)s; 0 = all of them)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        outcomes = deliveries_reconcile(
            older_than=timedelta(seconds=options["older_than"]), client=default_order_client(), limit=None
        )
        summary = ", ".join(f"{outcome} {count}" for outcome, count in sorted(outcomes.items())) or "nothing to check"
        self.stdout.write(f"reconciled: {summary}")
