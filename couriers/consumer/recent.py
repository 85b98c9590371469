"""Orders checked lately: an event produced before a check of its order began brings that check nothing new.

On a backlog the events of one order fall into several batches (partitions read unevenly, a rewind, a
duplicate sent late), and each batch would ask service-order again. A check that began after an event was
produced saw the order as it was after that event, or later: the event is answered by it, with no call.

What the rule trusts is Kafka's timestamp of the event, never its content, and it trusts it with a margin
for clocks (`clock_skew`): a producer's clock running behind ours by more than that could hide a change. The
one claim of an event a decision weighs is an end (disputes, services/knowledge.py): an end event is answered
only by a check that found the order ended already; any other goes to a check of its own, so that its end
is merged into what we know of the order, whatever a check remembered here was told.
"""

from collections import OrderedDict

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from couriers.consumer.events import OrderEvent
from couriers.phases import ENDS, phase_of
from couriers.services import Reading


class RecentChecks:
    """The latest check decided of each of the last `size` orders (0: none remembered, every event asks)."""

    def __init__(self, *, size: int, clock_skew: float) -> None:
        self.size = size
        self.clock_skew = clock_skew
        self.checks: OrderedDict[str, Reading] = OrderedDict()

    def remember(self, reading: Reading) -> None:
        """A check whose decision is committed; an older one never replaces a newer."""
        if self.size == 0:
            return
        known = self.checks.get(reading.order_id)
        if known is None or known.asked_at <= reading.asked_at:
            self.checks[reading.order_id] = reading
        self.checks.move_to_end(reading.order_id)
        while len(self.checks) > self.size:
            self.checks.popitem(last=False)

    def answered(self, pairs: list[tuple[Message, OrderEvent]]) -> Reading | None:
        """The check that answers every one of these events of one order, if one does."""
        check = self.checks.get(pairs[0][1].order_id) if pairs else None
        if check is not None and all(self._answers(check, message, event) for message, event in pairs):
            return check
        return None

    def _answers(self, check: Reading, message: Message, event: OrderEvent) -> bool:
        kind, timestamp = message.timestamp()
        if kind == TIMESTAMP_NOT_AVAILABLE or check.asked_at.timestamp() < timestamp / 1000 + self.clock_skew:
            return False  # the check may have begun before the event was produced
        # An end about an order the check did not find ended is news for the order's knowledge.
        return phase_of(event.status) not in ENDS or check.phase in ENDS
