"""python manage.py replay_dlq: re-publish dead-lettered events to the main topic, once the cause is fixed."""

import argparse
import logging
from datetime import datetime
from typing import Any

from confluent_kafka import Message
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils.dateparse import parse_datetime

from couriers.consumer.events import MalformedEvent, parse_event
from couriers.consumer.kafka import Cluster, KafkaUnavailable, client_config
from couriers.consumer.replay import ReplayFilter, ReplayStopped, replay_dead_letters
from couriers.services import orders_given_up_forget

logger = logging.getLogger(__name__)


def moment(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time with a zone, like 2026-11-25T12:00:00Z")
    return parsed


def _forgive(message: Message) -> None:
    """An order given up is given another round when an operator replays its events: otherwise they would be
    dead-lettered again at once, for the rest of CONSUMER_GIVE_UP_WINDOW."""
    try:
        event = parse_event(message.value(), max_bytes=settings.KAFKA_MAX_EVENT_BYTES)
    except MalformedEvent:
        return
    try:
        orders_given_up_forget(order_ids=[event.order_id])
    except DatabaseError as exc:  # a replay needs Kafka only: it goes on, this order may be dead-lettered again
        logger.warning("order %s may still be given up (the database did not answer: %s)", event.order_id, exc)


class Command(BaseCommand):
    help = "Re-publish dead-lettered events (all, or filtered by reason or time) to the main topic."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reason", help="only events whose dead-letter reason contains this text")
        parser.add_argument("--since", type=moment, help="only events dead-lettered at or after this time")
        parser.add_argument("--until", type=moment, help="only events dead-lettered before this time")
        parser.add_argument("--dry-run", action="store_true", help="count what would be replayed, publish nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            Cluster(client_config()).metadata(timeout=10)
            report = replay_dead_letters(
                config=client_config(),
                dlq_topic=settings.KAFKA_DLQ_TOPIC,
                target_topic=settings.KAFKA_TOPIC,
                only=ReplayFilter(reason=options["reason"], since=options["since"], until=options["until"]),
                dry_run=options["dry_run"],
                before_each=_forgive,
            )
        except (KafkaUnavailable, ReplayStopped) as exc:
            raise CommandError(
                f"replay stopped: {exc}. The DLQ is unchanged (a replay only reads it): run it again once "
                "Kafka answers; an event replayed twice is harmless"
            ) from exc
        verb = "would replay" if options["dry_run"] else "replayed"
        self.stdout.write(f"read {report.read} dead letters; {verb} {report.replayed} to {settings.KAFKA_TOPIC}")
        if report.records:
            self.stdout.write(f"left {report.records} records of messages too large for the DLQ (not the events)")
        for reason, count in sorted(report.reasons.items(), key=lambda item: -item[1]):
            self.stdout.write(f"  {count:6d}  {reason}")
