"""Every HTTP attempt ends by its deadline, whatever the peer does: at the deadline its socket is shut down.

Measured before this (deadline 1 s, read timeout 5 s, the peer sending a byte or a header every 0.2 s): a trickled
status line or trickled headers were still being read after 12 s, a 503's body was drained for as long as it came;
only a 200's body, read by the gateway itself, ended at 1 s. Timeouts cannot do it: a socket timeout bounds one
read, and urllib3's `total` only shortens each read's timeout, so a peer that sends a byte now and then is never
timed out. Setting each read's timeout to the time left would need a hook in every read, which http.client (status
line, headers), urllib3 (draining a retried answer) and ssl (the handshake) do not offer.

So one thread keeps the deadlines of every attempt in flight and, when one passes, shuts that attempt's socket down.
A shutdown wakes whatever read is blocked on the socket, in Python or in C, plain or TLS, with an end of stream:
the exchange fails at once wherever it was. The attempt remembers that it expired, so what was read by then (a
truncated header block, a body cut short) is thrown away, never taken for an answer.
"""

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from contextvars import ContextVar
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection


class Attempt:
    """One attempt's deadline: the socket it watches is shut down at `ends`, unless the attempt finished first."""

    def __init__(self, ends: float) -> None:
        self.ends = ends
        self._lock = threading.Lock()  # a socket is shut down only while known open: its number is never reused
        self._socket: socket.socket | None = None
        self._owns_socket = False
        self._expired = False
        self._finished = False

    @property
    def expired(self) -> bool:
        """Whether the deadline passed: by the clock too, so a late expiry thread never lets a late answer in."""
        return self._expired or time.monotonic() >= self.ends

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline; at once if it passed (while connecting, say)."""
        with self._lock:
            if self._finished:
                return
            self._socket = sock
            if self._expired:
                _shut(sock)

    def unwatch(self, sock: socket.socket) -> None:
        """`sock` serves another attempt now: leave it alone."""
        with self._lock:
            if self._socket is sock:
                self._socket = None

    def release(self, sock: socket.socket) -> None:
        """The connection let `sock` go: closed now, or when the attempt ends if it watches it. A connection is
        closed while its answer may still be read (http.client hands the socket over to an answer that ends the
        connection), and that read must still end by the deadline."""
        with self._lock:
            if self._socket is sock:
                self._owns_socket = True
            else:
                sock.close()

    def expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._expired = True
            if self._socket is not None:
                _shut(self._socket)

    def finish(self) -> bool:
        """The attempt is over: its socket is left alone. Whether the deadline came first."""
        with self._lock:
            self._finished = True
            if self._owns_socket and self._socket is not None:
                self._socket.close()
            self._socket = None
            return self.expired


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the peer already closed it
        sock.shutdown(socket.SHUT_RDWR)


class _Expiry:
    """Expires attempts at their deadline, from a thread that runs while any deadline is pending.

    A finished attempt stays queued until its time (expiring it then does nothing): cheaper than removing it.
    """

    def __init__(self) -> None:
        self._queue: list[tuple[float, int, Attempt]] = []
        self._order = itertools.count()  # ties never compare attempts
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, attempt: Attempt) -> None:
        with self._wake:
            heapq.heappush(self._queue, (attempt.ends, next(self._order), attempt))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            elif self._queue[0][2] is attempt:
                self._wake.notify()

    def _run(self) -> None:
        while attempt := self._next_due():
            attempt.expire()

    def _next_due(self) -> Attempt | None:
        """The next attempt whose deadline passed, once it does; None when none is pending (the thread ends)."""
        with self._wake:
            while self._queue:
                left = self._queue[0][0] - time.monotonic()
                if left <= 0:
                    return heapq.heappop(self._queue)[2]
                self._wake.wait(left)
            self._thread = None
            return None


_expiry = _Expiry()
os.register_at_fork(after_in_child=_expiry.__init__)  # the parent's thread and lock are not the child's
_current: ContextVar[Attempt | None] = ContextVar("deadline_attempt", default=None)


def start(seconds: float) -> Attempt:
    """This thread's next attempt, whose socket is shut down `seconds` from now."""
    attempt = Attempt(time.monotonic() + seconds)
    _current.set(attempt)
    _expiry.add(attempt)
    return attempt


def finish() -> bool:
    """This thread's attempt is over (its connection may go to another); whether its deadline came first."""
    attempt = _current.get()
    _current.set(None)
    return attempt is not None and attempt.finish()


def expired() -> bool:
    """Whether this thread's attempt in progress passed its deadline."""
    attempt = _current.get()
    return attempt is not None and attempt.expired


class WatchedHTTPConnection(HTTPConnection):
    """A connection that its thread's attempt shuts down at the deadline, from the handshake to the last byte."""

    # The connection's socket under a descriptor of its own: TLS takes the connected socket over (detaching it)
    # before its handshake, so the socket urllib3 holds then cannot be shut down; this one always can.
    _twin: socket.socket | None = None
    _watcher: Attempt | None = None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._twin = sock.dup()
        self._watched()
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._watched()
        super().request(*args, **kwargs)

    def close(self) -> None:
        if self._twin is not None:
            if self._watcher is None:
                self._twin.close()
            else:
                self._watcher.release(self._twin)
            self._twin = self._watcher = None
        super().close()

    def _watched(self) -> None:
        attempt = _current.get()
        if attempt is None or self._twin is None:
            return  # not connected yet: _new_conn comes back here
        if self._watcher is not None and self._watcher is not attempt:
            self._watcher.unwatch(self._twin)
        self._watcher = attempt
        attempt.watch(self._twin)


class WatchedHTTPSConnection(WatchedHTTPConnection, HTTPSConnection):
    pass
