"""The relay's loop: claim waiting rows, publish them, mark what the broker acknowledged, all in one transaction.

The rows stay locked (and unpublished in the database) until the broker acknowledged them, so a relay
killed at any point leaves them waiting: the next relay publishes them again (at least once; consumers
drop duplicates by event id or version). A row is marked only if every earlier row of its order was
acknowledged too, so an order's events never go out of order across retries.

Whole-world failures (Kafka or the database unreachable) wait with a growing pause, as long as they last;
they are said once when they begin and once when they end.
"""

import logging
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, connections, transaction
from django.utils import timezone

from couriers import metrics
from couriers.consumer.backoff import Backoff
from couriers.database import UNREACHABLE
from couriers.models import OutboxEvent
from couriers.relay.publisher import Publisher
from couriers.services.outbox import outbox_claim, outbox_mark_published, outbox_prune

logger = logging.getLogger(__name__)


class KafkaDown(Exception):
    """The broker acknowledged none of a round's rows."""


@dataclass(frozen=True)
class RelayOptions:
    batch_size: int
    poll_interval: float
    retention: timedelta
    backoff: Backoff
    prune_every: float = 60.0


class Relay:
    def __init__(self, publisher: Publisher, options: RelayOptions) -> None:
        self.publisher = publisher
        self.options = options
        self.stopping = threading.Event()
        self.failures = 0
        self.down_since: float | None = None
        self.next_prune = 0.0

    def request_stop(self) -> None:
        self.stopping.set()

    def run(self, *, idle_exit: float | None = None) -> None:
        """Publish until asked to stop (or, with `idle_exit`, once nothing waited for that long)."""
        idle_since = time.monotonic()
        while not self.stopping.is_set():
            published = self.step()
            if published:
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since >= idle_exit and not self.failures:
                return
            if not published or self.failures:
                self.stopping.wait(self._pause())

    def step(self) -> int:
        """One round, its failure handled: how many rows were published."""
        if not connection.in_atomic_block:
            close_old_connections()
        try:
            published = self.publish_once()
            self._prune_if_due()
        except KafkaDown as exc:
            self._failed("Kafka", exc)
            return 0
        except UNREACHABLE as exc:
            self._failed("the database", exc)
            with suppress(DatabaseError):  # a broken connection is replaced at the next round, not reused
                connection.close()
            return 0
        self._recovered()
        return published

    def publish_once(self) -> int:
        """Claim up to a batch of orders' waiting rows, publish them, mark the acknowledged ones."""
        with transaction.atomic():
            rows = outbox_claim(limit=self.options.batch_size)
            if not rows:
                return 0
            done = acknowledged_in_order(rows, self.publisher.publish(rows))
            outbox_mark_published(ids=done)
        metrics.OUTBOX_PUBLISHED.inc(len(done))
        if not done:
            raise KafkaDown(f"{len(rows)} rows not acknowledged by {self.publisher.topic}")
        return len(done)

    def _prune_if_due(self) -> None:
        if time.monotonic() < self.next_prune:
            return
        self.next_prune = time.monotonic() + self.options.prune_every
        pruned = outbox_prune(published_before=timezone.now() - self.options.retention)
        if pruned:
            logger.info("outbox: %s published rows pruned", pruned)

    def _pause(self) -> float:
        return self.options.backoff.delay(self.failures) if self.failures else self.options.poll_interval

    def _failed(self, dependency: str, exc: Exception) -> None:
        self.failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
            logger.warning("outbox relay: %s is down, retrying with a growing pause: %s", dependency, exc)

    def _recovered(self) -> None:
        if self.down_since is not None:
            logger.info("outbox relay: publishing again after %.1fs", time.monotonic() - self.down_since)
        self.failures = 0
        self.down_since = None


def acknowledged_in_order(rows: Sequence[OutboxEvent], acknowledged: set[int]) -> list[int]:
    """The acknowledged rows not preceded, in their order, by a row that was not: those may be marked."""
    blocked: set[str] = set()
    done = []
    for row in rows:
        if row.pk in acknowledged and row.order_id not in blocked:
            done.append(row.pk)
        else:
            blocked.add(row.order_id)
    return done


class RelayThread:
    """The relay inside another process (consume_orders --relay), on a thread with its own connection."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float) -> None:
        """Ask the relay to stop after its round; a round in hand is waited for at most `timeout` seconds."""
        self.relay.request_stop()
        self.thread.join(timeout)

    def _run(self) -> None:
        try:
            self.relay.run()
        finally:
            connections.close_all()  # this thread's own connection


def relay_options_from_settings() -> RelayOptions:
    return RelayOptions(
        batch_size=settings.OUTBOX_BATCH_SIZE,
        poll_interval=settings.OUTBOX_POLL_INTERVAL,
        retention=timedelta(seconds=settings.OUTBOX_RETENTION),
        backoff=Backoff(settings.CONSUMER_BACKOFF_INITIAL, settings.CONSUMER_BACKOFF_MAX),
    )
