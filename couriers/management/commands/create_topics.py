"""python manage.py create_topics: create KAFKA_TOPIC, KAFKA_DLQ_TOPIC and OUTBOX_TOPIC, as a deployment's first step."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from couriers.consumer.kafka import KafkaUnavailable, client_config
from couriers.consumer.topics import topics_ensure
from couriers.management.arguments import positive_float, positive_int


class Command(BaseCommand):
    help = "Create the events topic and the dead-letter topic if missing; report those that exist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partitions", type=positive_int, default=6, help="partitions (default %(default)s)")
        parser.add_argument(
            "--replication-factor", type=positive_int, default=1, help="copies of each partition (default %(default)s)"
        )
        parser.add_argument(
            "--timeout", type=positive_float, default=15.0, help="seconds to wait for Kafka (default %(default)s)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            topics = topics_ensure(
                client_config(),
                [settings.KAFKA_TOPIC, settings.KAFKA_DLQ_TOPIC, settings.OUTBOX_TOPIC],
                partitions=options["partitions"],
                replication_factor=options["replication_factor"],
                timeout=options["timeout"],
            )
        except KafkaUnavailable as exc:
            raise CommandError(str(exc)) from exc
        for topic in topics:
            (self.stdout if topic.as_wanted else self.stderr).write(topic.describe())
