"""service-order's statuses grouped by what they mean for dispatch (service-order.md)."""

from enum import StrEnum


class Phase(StrEnum):
    ACTIVE = "active"  # the order needs a courier
    DONE = "done"  # delivered: release the courier, complete the delivery
    CANCELLED = "cancelled"  # gone: release the courier, cancel the delivery
    UNKNOWN = "unknown"


ENDS = (Phase.DONE, Phase.CANCELLED)  # the order is over: no courier needed


_PHASES = {
    **dict.fromkeys(("created", "pending", "confirmed", "cooking", "delivering", "updated"), Phase.ACTIVE),
    **dict.fromkeys(("completed", "delivered"), Phase.DONE),
    # service-order writes "canceled"; other producers write "cancelled".
    **dict.fromkeys(("canceled", "cancelled", "deleted"), Phase.CANCELLED),
}


def phase_of(status: str) -> Phase:
    return _PHASES.get(status.strip().lower(), Phase.UNKNOWN)


NOT_FOUND = "not_found"  # what we record of an order when service-order answers 404


def read_phase(read_status: str) -> Phase:
    """The phase of a recorded answer: a 404 ends the order like a deletion (service-order answers those so)."""
    return Phase.CANCELLED if read_status == NOT_FOUND else phase_of(read_status)


# The recorded answers of an order that is over (as service-order spells them), for queries on them.
ENDED_READS = (*(status for status, phase in _PHASES.items() if phase in ENDS), NOT_FOUND)
