"""What a demo run is asked to do, with the defaults of `make demo`."""

from dataclasses import dataclass

DEFAULT_PORT = 8000


@dataclass(frozen=True)
class DemoOptions:
    orders: int = 500
    couriers: int = 30
    spread: float = 20.0  # seconds over which the orders are created
    # 0.05 turns an order's 15 minutes into 46 s: most of them finish within the first minute or two.
    time_scale: float = 0.05
    seed: int | None = None
    port: int | None = None  # None: DEFAULT_PORT, or a free one if that is taken
    serve: bool = True  # keep the admin and the API running after the report, until Ctrl-C
