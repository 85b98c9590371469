"""What can go wrong around service-order, on purpose: duplicates, disorder, delays, outages, bad events."""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MALFORMED_KINDS = (
    "not_json",
    "json_array",
    "missing_order_id",
    "empty_status",
    "order_id_too_long",
    "order_id_control_characters",
    "huge_payload",
)
HUGE_PAYLOAD_BYTES = 70 * 1024  # over the 64 KiB a consumer should accept


@dataclass(frozen=True)
class Chaos:
    """All off by default. Probabilities are per event (or per order for the *_fraction ones)."""

    duplicate_probability: float = 0.0
    max_copies: int = 3  # a duplicated event is sent 2 to max_copies times in all
    reorder_window: float = 0.0  # seconds: events are held back and shuffled within windows this long
    max_delay: float = 0.0  # seconds: each event is delayed by up to this much
    outages: tuple[tuple[float, float], ...] = ()  # (start, duration) in seconds after the simulator starts
    cancel_fraction: float = 0.0  # orders cancelled at a random moment of their life
    delete_fraction: float = 0.0  # orders deleted at a random moment of their life
    update_fraction: float = 0.0  # orders edited at a random moment of their life
    unknown_probability: float = 0.0  # an extra event for an order that never existed
    malformed_probability: float = 0.0  # an extra malformed event

    @classmethod
    def standard(cls) -> "Chaos":
        """A realistic amount of everything: what `--chaos` turns on."""
        return cls(
            duplicate_probability=0.1,
            reorder_window=0.2,
            max_delay=0.1,
            outages=((5.0, 2.0),),
            cancel_fraction=0.1,
            delete_fraction=0.05,
            update_fraction=0.05,
            unknown_probability=0.02,
            malformed_probability=0.02,
        )


def event(order_id: str, status: str, created_at: str) -> bytes:
    return json.dumps({"order_id": order_id, "status": status, "created_at": created_at}).encode()


def malformed_event(kind: str, order_id: str, created_at: str) -> bytes:
    """An event a consumer must reject (and survive). `order_id` is used where the kind needs a real id."""
    if kind == "not_json":
        return b'{"order_id": "' + order_id.encode() + b'", status: created'
    if kind == "json_array":
        return json.dumps([order_id, "created", created_at]).encode()
    if kind == "missing_order_id":
        return json.dumps({"status": "created", "created_at": created_at}).encode()
    if kind == "empty_status":
        return event(order_id, "", created_at)
    if kind == "order_id_too_long":
        return event(order_id + "-" + "x" * 256, "created", created_at)
    if kind == "order_id_control_characters":
        return event(order_id[:8] + "\x00\n\x1b" + order_id[8:], "created", created_at)
    if kind == "huge_payload":
        body = json.loads(event(order_id, "created", created_at))
        return json.dumps({**body, "padding": "x" * HUGE_PAYLOAD_BYTES}).encode()
    raise ValueError(f"unknown kind of malformed event: {kind}")


class Outages:
    """Windows of time in which the HTTP API answers 503, on a monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: list[tuple[float, float]] = []

    def schedule(self, start_in: float, duration: float) -> None:
        start = self._clock() + start_in
        with self._lock:
            self._windows.append((start, start + duration))

    def active(self) -> bool:
        now = self._clock()
        with self._lock:
            self._windows = [window for window in self._windows if window[1] > now]
            return any(start <= now for start, _ in self._windows)


HANG_SECONDS = 60.0  # how long a "hang" poison order keeps its caller waiting (or until the server stops)
TRICKLE_SECONDS = 0.5  # between two bytes of a "trickle" poison order's answer: each read is quick, the whole is not
# Per order: a 200 that is not an order; no answer in time; a 500, for good; a good answer, a byte at a time.
POISONS = ("malformed", "hang", "error", "trickle")


class Poisons:
    """Orders service-order can never answer properly, each with its kind of trouble: one for both APIs."""

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}  # order id (lower case) -> one of POISONS

    def add(self, order_id: str, kind: str) -> None:
        if kind not in POISONS:
            raise ValueError(f"unknown poison {kind!r}: one of {POISONS}")
        self._kinds[order_id.lower()] = kind

    def of(self, order_id: str) -> str | None:
        return self._kinds.get(order_id.lower())
