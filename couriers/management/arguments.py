"""argparse types for the commands: a bad value is refused with a usage message, not a traceback."""

import argparse
from collections.abc import Callable


def _bounded(cast: Callable[[str], float], minimum: float, inclusive: bool, what: str) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = cast(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}") from None
        if number < minimum or (not inclusive and number == minimum):
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}")
        return number

    return parse


positive_int = _bounded(int, 0, False, "a whole number above 0")
non_negative_int = _bounded(int, 0, True, "a whole number, 0 or more")
positive_float = _bounded(float, 0, False, "a number above 0")
non_negative_float = _bounded(float, 0, True, "a number, 0 or more")
