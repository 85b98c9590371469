"""python manage.py watch_deliveries: the delivery events of OUTBOX_TOPIC as they come, one line each."""

import json
import signal
import time
from collections import Counter
from typing import Any
from uuid import uuid4

from confluent_kafka import Consumer, Message
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from couriers.consumer.kafka import client_config
from couriers.management.arguments import positive_float


class Command(BaseCommand):
    help = "Print the deliveries' events as they are published (docs/events.md); Ctrl-C prints a count per type."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from-beginning", action="store_true", help="every event the topic still holds")
        parser.add_argument(
            "--idle-exit", type=positive_float, metavar="SECONDS", help="stop once no event came for this long"
        )
        parser.add_argument("--count", action="store_true", help="print only the count per event type at the end")

    def handle(self, *args: Any, **options: Any) -> None:
        consumer = Consumer(
            client_config(
                **{
                    "group.id": f"watch-deliveries-{uuid4().hex}",  # a reader of its own: no offsets shared
                    "auto.offset.reset": "earliest" if options["from_beginning"] else "latest",
                    "enable.auto.commit": False,
                }
            )
        )
        last_event = time.monotonic()

        def assigned(*_: object) -> None:
            nonlocal last_event
            last_event = time.monotonic()  # idle from the moment the topic is ours, not while joining the group

        consumer.subscribe([settings.OUTBOX_TOPIC], on_assign=assigned)
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        counts: Counter[str] = Counter()
        try:
            while not stopping:
                message = consumer.poll(0.5)
                if message is None or message.error() is not None:
                    if options["idle_exit"] and time.monotonic() - last_event >= options["idle_exit"]:
                        break
                    continue
                last_event = time.monotonic()
                event = json.loads(message.value())
                counts[event["type"]] += 1
                if not options["count"]:
                    self.stdout.write(describe(event, message))
        finally:
            consumer.close()
        self.stdout.write(", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "no events")


def describe(event: dict[str, Any], message: Message) -> str:
    courier = event["delivery"]["courier"]
    by = f" courier {courier['id']} ({courier['transport_type']})" if courier else ""
    return (
        f"{event['occurred_at']}  order {event['order_id']}  v{event['version']}  {event['type']}{by}"
        f"  [{event['cause']}]  p{message.partition()}@{message.offset()}"
    )
