"""python manage.py consume_orders: turn order.status.changed events into courier assignments."""

import signal
from datetime import timedelta
from functools import partial
from typing import Any

from confluent_kafka import Consumer, Producer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from prometheus_client import start_http_server

from couriers.consumer.backoff import Backoff
from couriers.consumer.connections import returning_connections
from couriers.consumer.dead_letters import DeadLetters
from couriers.consumer.kafka import consumer_config, producer_config
from couriers.consumer.loop import ConsumerOptions, OrderEventConsumer
from couriers.management.arguments import positive_float, positive_int
from couriers.services import deliveries_reconcile, order_events_handle
from gateway.client import default_order_client


class Command(BaseCommand):
    help = "Consume order status events, check each order at service-order and dispatch couriers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--idle-exit",
            type=positive_float,
            metavar="SECONDS",
            help="exit 0 after this long with no message and no event waiting for a retry",
        )
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=settings.CONSUMER_CONCURRENCY,
            help="orders checked at once (default %(default)s; 1 = one at a time)",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=settings.CONSUMER_BATCH_SIZE,
            help="messages taken from Kafka at once (default %(default)s)",
        )
        parser.add_argument("--metrics-port", type=positive_int, help="serve Prometheus metrics on this port")
        parser.add_argument(
            "--reconcile-every",
            type=positive_float,
            metavar="SECONDS",
            help="run the reconcile sweep (see reconcile_deliveries) this often, between batches",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["metrics_port"]:
            start_http_server(options["metrics_port"])
        client = default_order_client()
        sweep = partial(
            deliveries_reconcile, older_than=timedelta(seconds=settings.RECONCILE_OLDER_THAN), client=client
        )
        consumer = OrderEventConsumer(
            consumer=Consumer(consumer_config()),
            dead_letters=DeadLetters(Producer(producer_config()), settings.KAFKA_DLQ_TOPIC),
            handle=returning_connections(partial(order_events_handle, client=client)),
            options=ConsumerOptions(
                topic=settings.KAFKA_TOPIC,
                max_event_bytes=settings.KAFKA_MAX_EVENT_BYTES,
                batch_size=options["batch_size"],
                concurrency=options["concurrency"],
                backoff=Backoff(settings.CONSUMER_BACKOFF_INITIAL, settings.CONSUMER_BACKOFF_MAX),
                idle_exit=options["idle_exit"],
                liveness_file=settings.CONSUMER_LIVENESS_FILE,
                close_timeout=settings.CONSUMER_CLOSE_TIMEOUT,
                reconcile=sweep,
                reconcile_every=options["reconcile_every"],
            ),
        )
        signal.signal(signal.SIGTERM, consumer.request_stop)
        signal.signal(signal.SIGINT, consumer.request_stop)
        consumer.run()
