"""The consume loop: batches in, at most one check of service-order per order, offsets stored only after the work.

At-least-once: an offset is stored only once every message before it in its partition was
committed by the service layer (or dead-lettered). What cannot be done yet (service-order or the
database down) rewinds its partition to the first message still to do and pauses it for a growing,
jittered wait. One order failing on its own holds up nothing: its events are set aside in the database
and the order is tried again on its own schedule, beside the next batches. Each job is a collaborator:
RecentChecks (events a check of ours already answered), BatchRunner (run, decide as answers come, and
classify), ParkedOrders (orders set aside, their attempts), DeadLetters,
BatchProgress (what to store), PartitionPauses (backoff), Outage (one line when a dependency goes and
comes back).
"""

import faulthandler
import logging
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, Message, TopicPartition
from django.db import close_old_connections, connection

from couriers import metrics
from couriers.consumer.backoff import Backoff
from couriers.consumer.batch import BatchOutcome, BatchRunner, Checks, Handled, Verdict
from couriers.consumer.dead_letters import DeadLetters, Letter
from couriers.consumer.events import MalformedEvent, OrderEvent, parse_event
from couriers.consumer.gather import Gatherer
from couriers.consumer.idle import IdleClock
from couriers.consumer.liveness import Liveness
from couriers.consumer.outages import Outage
from couriers.consumer.parked import OrderMessages, ParkedOrders
from couriers.consumer.partitions import PartitionPauses
from couriers.consumer.progress import BatchProgress
from couriers.consumer.recent import RecentChecks
from couriers.database import database_answers
from couriers.services import EventResult, Outcome, ParkedOrder

logger = logging.getLogger(__name__)

HARD_CLOSE_MARGIN = 2.0  # seconds past CONSUMER_CLOSE_TIMEOUT before a close stuck in Kafka ends the process


@dataclass
class ConsumerOptions:
    topic: str
    max_event_bytes: int
    batch_size: int
    concurrency: int
    backoff: Backoff
    max_attempts: int = 5
    give_up_window: float = 3600.0  # a given-up order's later events are dead-lettered at once this long
    parked_lease: float = 300.0  # a parked order taken by a consumer that died is the others' after this
    batch_budget: float | None = None  # seconds after which a batch starts no more orders (see BatchRunner)
    idle_exit: float | None = None
    liveness_file: str = ""
    close_timeout: float = 10.0
    poll_timeout: float = 1.0
    heartbeat: Callable[[], object] = lambda: None  # called once per turn (the watchdog's beat)
    recent_checks: int = 100_000  # orders whose last check is remembered (see RecentChecks)
    clock_skew: float = 1.0  # seconds producers' clocks may run behind ours


class OrderEventConsumer:
    def __init__(
        self,
        *,
        consumer: Consumer,
        dead_letters: DeadLetters,
        checks: Checks,
        options: ConsumerOptions,
        service_probe: Callable[[str], bool] | None = None,
    ) -> None:
        self.consumer = consumer
        self.gather = Gatherer(consumer, batch_size=options.batch_size, poll_timeout=options.poll_timeout)
        self.dead_letters = dead_letters
        self.options = options
        self.runner = BatchRunner(
            checks, concurrency=options.concurrency, service_probe=service_probe, budget=options.batch_budget
        )
        self.parked = ParkedOrders(
            dead_letters=dead_letters,
            max_attempts=options.max_attempts,
            backoff=options.backoff,
            give_up_window=options.give_up_window,
            lease=options.parked_lease,
            limit=options.batch_size,
        )
        self.pauses = PartitionPauses(consumer, options.backoff)
        self.recent = RecentChecks(size=options.recent_checks, clock_skew=options.clock_skew)
        self.service = Outage("service-order")
        self.database = Outage("the database")
        self.liveness = Liveness(options.liveness_file)
        self.idle = IdleClock(consumer, options.idle_exit, topic=options.topic)
        self.stopping = False

    def request_stop(self, *_: object) -> None:
        """Signal handler: the loop finishes the batch in hand, then stops."""
        self.stopping = True

    def run(self) -> None:
        self.consumer.subscribe(
            [self.options.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        try:
            while not self.stopping:
                self.step()
        finally:
            self.close()

    def step(self) -> None:
        """One turn of the loop: resume what is due, take a batch, process it."""
        self.pauses.resume_due(ready=self._database_ready)
        messages = self._owned(self._take_batch())
        due = self.parked.take()
        if messages or due:
            self.process_batch(messages, due)
            self.idle.active()
        elif self.idle.over(work_waiting=self._work_waiting):
            logger.info("nothing to do for %ss: exiting", self.options.idle_exit)
            self.stopping = True
        if not connection.in_atomic_block:
            close_old_connections()
        self.liveness.beat()  # the turn is over: the one place that says the loop is alive
        self.options.heartbeat()

    def process_batch(self, batch: list[Message], due: dict[str, ParkedOrder] | None = None) -> None:
        """The batch's messages, and the parked orders whose turn came (`due`)."""
        messages = _without_errors(batch)
        progress = BatchProgress(messages)
        by_order, letters = self._parse(messages)
        self._leave_answered(by_order)
        due = dict(due or {})
        letters += self.parked.set_aside(by_order, due)
        outcome = self.runner.run(
            _statuses(by_order, due), on_done=partial(self._decided, by_order), produced=_produced(by_order)
        )
        self._note_outages(outcome)
        letters += self._settle(by_order, due, outcome, progress)
        for origin in self.dead_letters.send(letters):
            progress.retry(*origin)
        self.parked.send_letters()
        self._store(progress)
        self._measure_lag(messages)

    def _parse(self, messages: list[Message]) -> tuple[OrderMessages, list[Letter]]:
        by_order: OrderMessages = defaultdict(list)
        malformed = []
        for message in messages:
            try:
                event = parse_event(message.value(), max_bytes=self.options.max_event_bytes)
            except MalformedEvent as exc:
                logger.warning(
                    "malformed event dead-lettered: %s",
                    exc,
                    extra={"partition": message.partition(), "offset": message.offset(), "outcome": "dead_lettered"},
                )
                malformed.append(Letter(message, str(exc)))
            else:
                by_order[event.order_id].append((message, event))
        return by_order, malformed

    def _leave_answered(self, by_order: OrderMessages) -> None:
        """Orders whose every event a check of ours began after: logged as answered, left out of the batch."""
        for order_id in list(by_order):
            if (check := self.recent.answered(by_order[order_id])) is not None:
                _log_order(by_order.pop(order_id), EventResult(Outcome.ALREADY_CHECKED, check.order_status), 0.0)

    def _decided(self, by_order: OrderMessages, order_id: str, handled: Handled) -> None:
        """An order decided: said at once, not when the batch's slowest call returns."""
        assert handled.reading is not None  # an order done has its reading and its result
        assert handled.result is not None
        self.recent.remember(handled.reading)
        _log_order(by_order.get(order_id, []), handled.result, handled.seconds)

    def _settle(
        self, by_order: OrderMessages, due: dict[str, ParkedOrder], outcome: BatchOutcome, progress: BatchProgress
    ) -> list[Letter]:
        """What becomes of each order's messages: logged, dead-lettered, set aside, or left to retry."""
        letters, later = [], []
        for order_id, handled in outcome.handled.items():
            pairs, parked = by_order.get(order_id, []), due.get(order_id)
            if handled.verdict is Verdict.DONE:
                self.parked.done(parked)
            elif handled.verdict is Verdict.REJECTED:
                letters += [Letter(m, f"service-order rejected the order id: {handled.error}") for m, _ in pairs]
                self.parked.rejected(parked, handled.error)
            elif handled.verdict is not Verdict.FAILED or not self.parked.failed(order_id, pairs, handled.error):
                for message, _ in pairs:
                    progress.retry(message.topic(), message.partition(), message.offset())
                if parked is not None:
                    later.append(order_id)
        if later:
            self.parked.later(later, outage=outcome.service_down is not None or outcome.database_down is not None)
        return letters

    def _store(self, progress: BatchProgress) -> None:
        offsets = progress.offsets()
        self.consumer.store_offsets(offsets=offsets)
        self.dead_letters.forget_before(offsets)
        for (topic, partition), offset in progress.retry_from.items():
            self.gather.forget([(topic, partition)])  # what it holds past the rewind comes again from Kafka
            self.pauses.pause((topic, partition), offset)
        self.pauses.progressed(progress.finished())

    def _note_outages(self, outcome: BatchOutcome) -> None:
        answered = any(h.verdict in (Verdict.DONE, Verdict.REJECTED) for h in outcome.handled.values())
        for outage, error in ((self.service, outcome.service_down), (self.database, outcome.database_down)):
            if error is not None:
                outage.begin(error)
            elif answered:
                outage.end()
        if answered and not (self.service.active or self.database.active):
            self.parked.outage_over()

    def _database_ready(self) -> bool:
        """Before partitions resume while the database is down: does it answer again?"""
        if not self.database.active or database_answers():
            return True
        logger.debug("database still unreachable: partitions keep waiting")
        return False

    def _take_batch(self) -> list[Message]:
        """Up to a batch of the oldest messages over all partitions, waiting only for the first (see gather)."""
        return self.gather.take()

    def _owned(self, messages: list[Message]) -> list[Message]:
        """Only messages of partitions still ours: a revocation served inside consume() leaves messages whose
        offsets can no longer be stored or sought (librdkafka raises _STATE); their new owner reads them again.
        Kafka's own notices (errors) stay, to be logged."""
        if not messages:
            return messages
        assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        return [m for m in messages if m.error() is not None or (m.topic(), m.partition()) in assigned]

    def _work_waiting(self) -> bool:
        return self.pauses.any_waiting or self.parked.waiting()

    def _measure_lag(self, messages: list[Message]) -> None:
        positions: dict[tuple[str, int], int] = {}
        for message in messages:
            positions[(message.topic(), message.partition())] = message.offset() + 1
        for (topic, partition), position in positions.items():
            # cached=True: the high watermark that came with the last fetch, no broker round trip.
            _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high >= 0:
                metrics.CONSUMER_LAG.labels(partition).set(max(high - position, 0))

    # --- the group: assignment, revocation, shutdown --------------------------------

    def _on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("assigned partitions %s", sorted(tp.partition for tp in partitions))
        self.idle.assigned()

    def _on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("partitions %s revoked", sorted(tp.partition for tp in partitions))
        self.idle.revoked()
        self._forget(partitions)
        self._commit_stored()

    def _on_lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        # Someone else owns them already: committing now could overwrite their progress.
        logger.warning("partitions %s lost", sorted(tp.partition for tp in partitions))
        self.idle.revoked()
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        # Only these partitions: under KIP-848 (and cooperative assignors) the others stay ours, paused or not.
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.pauses.forget(gone)
        self.dead_letters.forget(gone)
        self.gather.forget(gone)

    def close(self) -> None:
        """Commit what is stored and leave the group; never hang when the broker is gone.

        librdkafka can block in close's own rebalance (rd_kafka_consumer_close -> the rebalance callback ->
        rd_kafka_assign) holding the GIL (librdkafka issue 4527): no Python thread runs then, this join included.
        So the group is left before close, which then has no rebalance to make; and if Kafka still holds the
        process, faulthandler's thread, which needs no GIL, dumps every thread's stack and exits (1).
        """
        self.runner.close()
        hard_bound = self.options.close_timeout + HARD_CLOSE_MARGIN
        faulthandler.dump_traceback_later(hard_bound, exit=True, file=sys.__stderr__)  # the process's own stderr
        try:
            closer = threading.Thread(target=self._commit_and_close, name="kafka-close", daemon=True)
            closer.start()
            closer.join(self.options.close_timeout)
        finally:
            faulthandler.cancel_dump_traceback_later()
        if closer.is_alive():
            logger.error(
                "Kafka did not close within %ss (broker unreachable?): exiting without it", self.options.close_timeout
            )
        else:
            logger.info("consumer closed")

    def _commit_and_close(self) -> None:
        leave_by = time.monotonic() + self.options.close_timeout / 2  # the other half for close itself
        self._commit_stored()
        self._leave_group(until=leave_by)
        self.consumer.close()

    def _leave_group(self, until: float) -> None:
        """Unsubscribe, and poll until the revocation (its callback commits too) leaves nothing assigned."""
        self.consumer.unsubscribe()
        while self.consumer.assignment() and time.monotonic() < until:
            self.consumer.poll(0.1)  # a message still buffered is dropped: its offset was not stored

    def _commit_stored(self) -> None:
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            logger.debug("nothing committed: %s", exc)  # typically: no offsets stored since the last commit


def _without_errors(batch: list[Message]) -> list[Message]:
    """Kafka's own notices (an unknown topic, say) come as messages with an error: log, keep the rest."""
    for message in batch:
        if message.error() is not None:
            logger.warning("Kafka reported: %s", message.error())
    return [message for message in batch if message.error() is None]


def _statuses(by_order: OrderMessages, due: dict[str, ParkedOrder]) -> dict[str, list[str]]:
    """Each order's statuses, from its new events and from those it was set aside with."""
    statuses = {order_id: [event.status for _, event in pairs] for order_id, pairs in by_order.items()}
    for order_id, parked in due.items():
        statuses.setdefault(order_id, []).extend(event.status for event in parked.events)
    return statuses


def _produced(by_order: OrderMessages) -> dict[str, datetime]:
    """When each order's newest event was produced, by Kafka's timestamp (orders with none left out)."""
    produced = {}
    for order_id, pairs in by_order.items():
        stamps = [ms for kind, ms in (message.timestamp() for message, _ in pairs) if kind != TIMESTAMP_NOT_AVAILABLE]
        if stamps:
            produced[order_id] = datetime.fromtimestamp(max(stamps) / 1000, UTC)
    return produced


def _log_order(order_events: list[tuple[Message, OrderEvent]], result: EventResult, seconds: float) -> None:
    """One line for an order's events of a batch (a line per event cost a tenth of a check's CPU)."""
    metrics.EVENTS.labels(str(result.outcome)).inc(len(order_events))
    if not order_events:
        return  # a parked order's retry: its events were read in an earlier batch
    order_id = order_events[0][1].order_id
    statuses = [event.status for _, event in order_events]
    logger.info(
        "order %s: %s said %s, order is %s: %s (%.1f ms)",
        order_id,
        "event" if len(statuses) == 1 else f"{len(statuses)} events",
        ", ".join(statuses),
        result.order_status or "not found",
        result.outcome,
        seconds * 1000,
        extra={
            "order_id": order_id,
            "event_statuses": statuses,
            "events": [[message.partition(), message.offset()] for message, _ in order_events],
            "order_status": result.order_status,
            "outcome": str(result.outcome),
            "duration_ms": round(seconds * 1000, 1),
        },
    )
