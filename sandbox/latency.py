"""A network's delay for the simulated service-order: a median and a long tail, as real round trips have."""

import math
import random
import threading

# Log-normal with p99 = 5 x median: exp(2.326 * sigma) = 5, 2.326 being the normal distribution's 99th percentile.
TAIL_SIGMA = math.log(5) / 2.326


class ResponseDelay:
    """Seconds to wait before each answer; a median of 0 means no wait at all."""

    def __init__(self, median_seconds: float = 0.0, seed: int | None = None) -> None:
        self.median_seconds = median_seconds
        self._random = random.Random(seed)
        self._lock = threading.Lock()  # one source shared by the server's threads

    def draw(self) -> float:
        if self.median_seconds <= 0:
            return 0.0
        with self._lock:
            return self._random.lognormvariate(math.log(self.median_seconds), TAIL_SIGMA)
