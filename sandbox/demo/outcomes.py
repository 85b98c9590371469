"""The consumer's outcomes (couriers.services.Outcome, plus dead-lettering), in the order the report lists them."""

from collections import Counter

# outcome -> (label, what it means)
OUTCOMES: dict[str, tuple[str, str]] = {
    "assigned": ("assigned", "a free courier took the order"),
    "queued": ("queued", "no courier free: the order waits"),
    "completed": ("completed", "delivered: the courier is free again"),
    "cancelled": ("cancelled", "cancelled or deleted: the courier is free"),
    "unchanged": ("unchanged", "a duplicate, or news already acted on"),
    "stale": ("stale", "an end service-order's reads contradict: disputed"),
    "not_found": ("not found", "service-order does not know the order"),
    "unknown_status": ("unknown status", "a status of no known phase: left alone"),
    "already_checked": ("already checked", "produced before a check of ours: not asked again"),
    "dead_lettered": ("dead-lettered", "malformed: to the dead-letter topic"),
}
ALWAYS_SHOWN = ("assigned", "queued", "completed", "cancelled", "unchanged", "stale", "not_found", "dead_lettered")


def listed(counts: Counter[str]) -> list[tuple[str, str, int]]:
    """(label, meaning, count) for every outcome worth a row: the usual ones, and any other that happened."""
    keys = [*ALWAYS_SHOWN, *(key for key in counts if key not in ALWAYS_SHOWN and counts[key])]
    return [(*OUTCOMES.get(key, (key, "")), counts[key]) for key in keys]


def brief(counts: Counter[str]) -> str:
    """ "assigned 12 · queued 30 · ..." for the progress line: only what happened."""
    return " · ".join(f"{label} {count}" for label, _, count in listed(counts) if count) or "none yet"
