"""A circuit breaker: stop calling a failing dependency, probe it now and then, close on success."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

Permit = Literal["call", "probe"]


class CircuitBreaker:
    """closed -> (``failure_threshold`` failures in a row) -> open -> (``reset_timeout_s``) ->
    half-open: one probe goes through; its success closes the breaker, its failure reopens it.

    ``acquire`` hands out a permit; the caller ends it with ``record_success``,
    ``record_failure`` or ``release`` (neither: a cancelled call or a request the dependency
    rightly refused), so an abandoned probe never leaves the breaker stuck open.
    """

    def __init__(
        self,
        failure_threshold: int,
        reset_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self._clock() - self.opened_at >= self.reset_timeout_s:
            return "half-open"
        return "open"

    def acquire(self) -> Permit | None:
        """A permit to call now, or None. In half-open state only one probe at a time."""
        state = self.state
        if state == "closed":
            return "call"
        if state == "half-open" and not self._probing:
            self._probing = True
            return "probe"
        return None

    def allow(self) -> bool:
        return self.acquire() is not None

    def record_success(self, permit: Permit | None = "call") -> None:
        self.failures = 0
        self.opened_at = None
        self._probing = False

    def record_failure(self, permit: Permit | None = "call") -> None:
        self.failures += 1
        if permit == "probe" or self.failures >= self.failure_threshold:
            self.opened_at = self._clock()
        if permit == "probe":
            self._probing = False

    def release(self, permit: Permit | None) -> None:
        """End a permit without a verdict: a cancelled probe frees the probe slot."""
        if permit == "probe":
            self._probing = False
