"""python manage.py watch_deliveries: the delivery events of OUTBOX_TOPIC as they come, one line each.

A message that is not a delivery event is skipped, said on stderr with where it lies; a Kafka that does not answer
stops the command with an error (exit 1), never an empty count.
"""

import json
import signal
import time
from collections import Counter
from typing import Any
from uuid import uuid4

from confluent_kafka import Consumer, KafkaError, Message
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from couriers.consumer.kafka import Cluster, KafkaUnavailable, client_config
from couriers.management.arguments import positive_float


class Command(BaseCommand):
    help = "Print the deliveries' events as they are published (docs/events.md); Ctrl-C prints a count per type."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from-beginning", action="store_true", help="every event the topic still holds")
        parser.add_argument(
            "--idle-exit", type=positive_float, metavar="SECONDS", help="stop once no event came for this long"
        )
        parser.add_argument("--count", action="store_true", help="print only the count per event type at the end")
        parser.add_argument(
            "--kafka-timeout",
            type=positive_float,
            default=10.0,
            metavar="SECONDS",
            help="fail when Kafka has not answered within this (default: 10)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            Cluster(client_config()).metadata(options["kafka_timeout"])
        except KafkaUnavailable as exc:
            raise CommandError(str(exc)) from exc
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
        joined = False

        def assigned(*_: object) -> None:
            nonlocal last_event, joined
            last_event = time.monotonic()  # idle from the moment the topic is ours, not while joining the group
            joined = True

        consumer.subscribe([settings.OUTBOX_TOPIC], on_assign=assigned)
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        counts: Counter[str] = Counter()
        skipped = 0
        try:
            while not stopping:
                message = consumer.poll(0.5)
                if message is None or message.error() is not None:
                    self._report(message)
                    if options["idle_exit"] and time.monotonic() - last_event >= options["idle_exit"]:
                        if not joined:
                            raise CommandError(
                                f"Kafka gave no partition of {settings.OUTBOX_TOPIC} to read within "
                                f"{options['idle_exit']:g} s (check OUTBOX_TOPIC and KAFKA_BOOTSTRAP_SERVERS)"
                            )
                        break
                    continue
                last_event = time.monotonic()
                skipped += not self._show(message, counts, quiet=options["count"])
        finally:
            consumer.close()
        self.stdout.write(", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "no events")
        if skipped:
            self.stderr.write(f"{skipped} message(s) skipped: not delivery events")

    def _show(self, message: Message, counts: Counter[str], *, quiet: bool) -> bool:
        """Counts and prints the event; False, said on stderr, for a message that is not one."""
        try:
            kind, line = read_event(message)
        except ValueError as exc:
            self.stderr.write(f"skipped p{message.partition()}@{message.offset()}: {exc}")
            return False
        counts[kind] += 1
        if not quiet:
            self.stdout.write(line)
        return True

    def _report(self, message: Message | None) -> None:
        """A fatal error stops the command; another is said on stderr, and librdkafka goes on trying."""
        error = message.error() if message is not None else None
        if error is None or error.code() == KafkaError._PARTITION_EOF:
            return
        if error.fatal():
            raise CommandError(f"Kafka failed for good: {error.str()}")
        self.stderr.write(f"kafka: {error.str()}")


def read_event(message: Message) -> tuple[str, str]:
    """The event's type and its line; ValueError, saying why, for a message that is not a delivery event."""
    try:
        event = json.loads(message.value())
        return str(event["type"]), describe(event, message)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a delivery event ({type(exc).__name__}: {exc})") from exc


def describe(event: dict[str, Any], message: Message) -> str:
    courier = event["delivery"]["courier"]
    by = f" courier {courier['id']} ({courier['transport_type']})" if courier else ""
    return (
        f"{event['occurred_at']}  order {event['order_id']}  v{event['version']}  {event['type']}{by}"
        f"  [{event['cause']}]  p{message.partition()}@{message.offset()}"
    )
