"""What a decision about an order came to: the outcome every path reports and counts."""

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    ASSIGNED = "assigned"
    QUEUED = "queued"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    UNCHANGED = "unchanged"
    STALE = "stale"
    NOT_FOUND = "not_found"
    UNKNOWN_STATUS = "unknown_status"
    ALREADY_CHECKED = "already_checked"  # a check that began after the event was produced decided already


@dataclass(frozen=True)
class EventResult:
    outcome: Outcome
    order_status: str | None  # what service-order said; None when it does not know the order
