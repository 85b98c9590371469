"""python manage.py relay_outbox: publish the outbox's delivery events to OUTBOX_TOPIC (docs/events.md)."""

import logging
import signal
from typing import Any

from confluent_kafka import Producer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from prometheus_client import start_http_server

from couriers.management.arguments import positive_float, positive_int
from couriers.relay.publisher import Publisher, relay_producer_config
from couriers.relay.relay import Relay, relay_options_from_settings

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Publish the deliveries' events waiting in the outbox, in order per order; several may run at once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--idle-exit",
            type=positive_float,
            metavar="SECONDS",
            help="exit 0 once nothing waited for this long (batch runs, tests)",
        )
        parser.add_argument(
            "--metrics-port",
            type=positive_int,
            help="serve Prometheus metrics on this port (at CONSUMER_METRICS_ADDRESS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["metrics_port"]:
            start_http_server(options["metrics_port"], addr=settings.CONSUMER_METRICS_ADDRESS)
        relay = build_relay()

        def stop(signum: int, _: object) -> None:
            logger.info("%s received: stopping", signal.Signals(signum).name)
            relay.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        logger.info("outbox relay publishing to %s", settings.OUTBOX_TOPIC)
        relay.run(idle_exit=options["idle_exit"])
        relay.publisher.producer.flush(settings.CONSUMER_CLOSE_TIMEOUT)
        logger.info("relay_outbox stopped")


def build_relay() -> Relay:
    timeout = settings.OUTBOX_PUBLISH_TIMEOUT
    config = relay_producer_config(publish_timeout=timeout)
    publisher = Publisher(lambda: Producer(config), settings.OUTBOX_TOPIC, publish_timeout=timeout)
    return Relay(publisher, relay_options_from_settings())
