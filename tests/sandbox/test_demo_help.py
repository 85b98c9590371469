"""`manage.py demo --help` says what sets a run's duration, and how a served demo stops."""

from sandbox.management.commands.demo import Command


def demo_help() -> str:
    return " ".join(Command().create_parser("manage.py", "demo").format_help().split())


def test_help_says_spread_and_time_scale_set_the_duration_not_orders() -> None:
    text = demo_help()

    assert "a run lasts about --spread plus one order's life, whatever --orders" in text
    assert "orders created over --spread: the load, not the duration" in text
    assert "15 minutes last 46 s, and the run about that much longer than --spread" in text


def test_help_says_sigterm_stops_a_served_demo() -> None:
    assert "served until Ctrl-C or SIGTERM" in demo_help()
