"""urllib3's Retry with what the gateway adds to it: full jitter, an injectable sleep, a report per attempt."""

import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Self

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from gateway import deadlines

AttemptReport = Callable[[str, float], None]

# When this thread's current attempt began. One Retry serves every request through the adapter, and
# each increment makes a new one, so the start of an attempt cannot live on the Retry itself.
attempt_started: ContextVar[float] = ContextVar("attempt_started")


class GatewayRetry(Retry):
    """Retry as urllib3 does it (counts, status list, Retry-After capped by `retry_after_max`), except:

    - the wait before retry n is drawn uniformly from 0 to min(backoff_max, backoff_factor * 2**(n-1))
      (full jitter; urllib3 retries the first time at once and adds a fixed jitter), which spreads the
      retries of many workers hitting one recovering service;
    - a Retry-After it cannot parse falls back to that backoff instead of failing the request;
    - the wait goes through `sleep` (metrics, tests), and every failed attempt is reported to `on_attempt`;
    - each attempt ends by `deadline` seconds (gateway.deadlines), and one that did not is reported as a timeout.
    """

    def __init__(
        self,
        *args: Any,
        sleep: Callable[[float], None] = time.sleep,
        on_attempt: AttemptReport | None = None,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.wait = sleep
        self.on_attempt = on_attempt
        self.deadline = deadline

    def new(self, **kw: Any) -> Self:
        return super().new(sleep=self.wait, on_attempt=self.on_attempt, deadline=self.deadline, **kw)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        label = "timeout" if deadlines.expired() else attempt_label(response, error)
        report_attempt(self.on_attempt, label)
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def get_backoff_time(self) -> float:
        return full_jitter(len(self.history), base=self.backoff_factor, cap=self.backoff_max)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        deadlines.finish()  # the wait is no attempt's: its connection is left alone
        retry_after = self._retry_after(response)
        self.wait(retry_after if retry_after is not None else self.get_backoff_time())
        begin_attempt(self.deadline)

    def _retry_after(self, response: BaseHTTPResponse | None) -> float | None:
        if response is None or not self.respect_retry_after_header:
            return None
        try:
            return self.get_retry_after(response)
        except InvalidHeader:
            return None


def begin_attempt(deadline: float | None) -> None:
    """An attempt begins now: timed for its report, and ended by `deadline` seconds if given."""
    attempt_started.set(time.monotonic())
    if deadline is not None:
        deadlines.start(deadline)


def full_jitter(retry: int, *, base: float, cap: float) -> float:
    """The wait before retry number `retry` (1, 2, ...): uniform from 0 to min(cap, base * 2**(retry-1))."""
    return random.uniform(0, min(cap, base * 2 ** (retry - 1)))


def attempt_label(response: BaseHTTPResponse | None, error: BaseException | None) -> str:
    """How one attempt ended, for metrics and messages: its status code, or what went wrong."""
    if response is not None:
        return str(response.status)
    if isinstance(error, Urllib3Timeout) and not isinstance(error, NewConnectionError):
        return "timeout"
    return "connection error"


def report_attempt(on_attempt: AttemptReport | None, label: str) -> None:
    if on_attempt is not None:
        now = time.monotonic()
        on_attempt(label, now - attempt_started.get(now))
