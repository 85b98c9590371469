"""Growing, jittered, capped waits for a partition whose events cannot be processed yet."""

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    initial: float
    maximum: float

    def delay(self, failures: int) -> float:
        """The wait after the n-th failure in a row (n >= 1): doubling, capped, with equal jitter."""
        ceiling = min(self.maximum, self.initial * 2 ** (failures - 1))
        # Half fixed, half random: waits grow for sure, and copies of the consumer do not retry in step.
        return ceiling / 2 + random.uniform(0, ceiling / 2)
