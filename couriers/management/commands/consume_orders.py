"""python manage.py consume_orders: turn order.status.changed events into courier assignments."""

import logging
import signal
from datetime import timedelta
from functools import partial
from typing import Any

from confluent_kafka import Consumer, Producer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from couriers.consumer.backoff import Backoff
from couriers.consumer.batch import ServiceChecks
from couriers.consumer.dead_letters import DeadLetters
from couriers.consumer.kafka import Cluster, KafkaUnavailable, client_config, consumer_config, producer_config
from couriers.consumer.loop import ConsumerOptions, OrderEventConsumer
from couriers.consumer.metrics_server import start_metrics_server
from couriers.consumer.sweeper import Sweeper
from couriers.consumer.watchdog import Watchdog
from couriers.database import limit_session_waits
from couriers.management.arguments import non_negative_float, positive_float, positive_int
from couriers.management.commands.relay_outbox import build_relay
from couriers.relay.relay import RelayThread
from couriers.services import deliveries_reconcile
from gateway.client import default_order_client
from gateway.orders import OrderClient, service_answers

logger = logging.getLogger(__name__)
KAFKA_CHECK_TIMEOUT = 10.0


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
        parser.add_argument(
            "--metrics-port",
            type=positive_int,
            help="serve Prometheus metrics on this port (at CONSUMER_METRICS_ADDRESS)",
        )
        parser.add_argument(
            "--reconcile-every",
            type=non_negative_float,
            default=settings.CONSUMER_RECONCILE_EVERY,
            metavar="SECONDS",
            help="run the reconcile sweep (see reconcile_deliveries) this often, on a thread of its own; it settles "
            "disputed ends once their grace is over (default %(default)s, CONSUMER_RECONCILE_EVERY; 0: no sweep)",
        )
        parser.add_argument(
            "--relay",
            action="store_true",
            help="also publish the outbox's delivery events (see relay_outbox), on a thread of its own",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        _check_kafka()
        if options["metrics_port"]:
            start_metrics_server(
                options["metrics_port"], address=settings.CONSUMER_METRICS_ADDRESS, token=settings.METRICS_TOKEN
            )
        limit_session_waits(
            lock_timeout=settings.CONSUMER_DB_LOCK_TIMEOUT, statement_timeout=settings.CONSUMER_DB_STATEMENT_TIMEOUT
        )
        client = default_order_client()
        watchdog = Watchdog(stall_seconds=settings.CONSUMER_STALL_SECONDS)
        consumer = OrderEventConsumer(
            consumer=Consumer(consumer_config()),
            dead_letters=DeadLetters(Producer(producer_config()), settings.KAFKA_DLQ_TOPIC),
            checks=ServiceChecks(client),
            service_probe=partial(service_answers, client),
            options=ConsumerOptions(
                topic=settings.KAFKA_TOPIC,
                max_event_bytes=settings.KAFKA_MAX_EVENT_BYTES,
                batch_size=options["batch_size"],
                concurrency=options["concurrency"],
                backoff=Backoff(settings.CONSUMER_BACKOFF_INITIAL, settings.CONSUMER_BACKOFF_MAX),
                max_attempts=settings.CONSUMER_MAX_ATTEMPTS,
                give_up_window=settings.CONSUMER_GIVE_UP_WINDOW,
                parked_lease=settings.KAFKA_MAX_POLL_INTERVAL_MS / 1000,  # the longest a batch may hold one
                # Half the poll interval to start orders; the other half for the calls under way to end.
                batch_budget=settings.KAFKA_MAX_POLL_INTERVAL_MS / 2000,
                idle_exit=options["idle_exit"],
                liveness_file=settings.CONSUMER_LIVENESS_FILE,
                close_timeout=settings.CONSUMER_CLOSE_TIMEOUT,
                heartbeat=watchdog.beat,
                recent_checks=settings.CONSUMER_RECENT_CHECKS,
                clock_skew=settings.CONSUMER_CLOCK_SKEW,
            ),
        )
        sweeper = self._sweeper(options["reconcile_every"], client)
        relay = RelayThread(build_relay()) if options["relay"] else None

        def stop(signum: int, _: object) -> None:
            logger.info("%s received: stopping", signal.Signals(signum).name)
            consumer.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        watchdog.start()
        if sweeper is not None:
            sweeper.start()
        if relay is not None:
            relay.start()
        try:
            consumer.run()
        finally:
            if sweeper is not None:
                sweeper.stop(timeout=settings.CONSUMER_CLOSE_TIMEOUT)
            if relay is not None:
                relay.stop(timeout=settings.CONSUMER_CLOSE_TIMEOUT)
            watchdog.stop()
        logger.info("consume_orders stopped")

    @staticmethod
    def _sweeper(every: float, client: OrderClient) -> Sweeper | None:
        if not every:
            return None
        sweep = partial(
            deliveries_reconcile, older_than=timedelta(seconds=settings.RECONCILE_OLDER_THAN), client=client
        )
        return Sweeper(sweep=sweep, every=every, time_limit=settings.RECONCILE_TIME_LIMIT)


def _check_kafka() -> None:
    """Refused credentials or TLS stop start-up, naming the settings; an unreachable Kafka is waited for."""
    try:
        Cluster(client_config()).metadata(KAFKA_CHECK_TIMEOUT)
    except KafkaUnavailable as exc:
        if exc.refused:
            raise CommandError(str(exc)) from exc
        logger.warning("%s: starting anyway, the consumer keeps trying", exc)
