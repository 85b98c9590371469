"""`python -m sandbox.bench.without_outbox consume_orders ...`: the consumer with the outbox's writes taken out.

The bench's baseline, to say what the outbox costs per check: the same consumer, on the same stream, whose
decisions write no event. Never for production: there, no decision goes without its event.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courier_project.settings")
    import django

    django.setup()
    from couriers.services import deliveries, queue, readings

    def no_event(delivery: object, *_: object) -> None:
        delivery.version += 1  # the delivery's own write stays as it is; only the outbox row goes

    queue.event_record = deliveries.event_record = no_event
    readings.events_record_started = lambda deliveries: None
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *sys.argv[1:]])


if __name__ == "__main__":
    main()
