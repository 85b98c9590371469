"""The end of a run: what the consumer did, where the deliveries stand, and whether they match service-order."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Min, Q
from django.utils import timezone
from rich.columns import Columns
from rich.console import Console
from rich.table import Table

from couriers import selectors
from couriers.models import Courier, Delivery, OrderKnowledge
from couriers.selectors import delivery_disputed
from couriers.services.knowledge import grace
from sandbox.demo.order_fates import OrderFates, order_fates
from sandbox.demo.outcomes import listed
from sandbox.demo.watch import produced
from sandbox.http_server import RequestStats
from sandbox.publisher import PublishRecord
from sandbox.stream import StreamReport
from sandbox.verify import Report, verify

BUSIEST = 5
SWEEP_SHOWN = ("assigned", "completed", "cancelled", "not found")  # the sweep's outcomes that change a delivery
MISMATCHES_SHOWN = 10


@dataclass(frozen=True)
class BusyCourier:
    name: str
    transport: str
    deliveries: int
    status: str


@dataclass(frozen=True)
class Disputes:
    """Orders an event announced ended while service-order's reads said active (couriers/services/knowledge.py)."""

    opened: int
    settled: int  # ended since: by the rule after DISPUTE_GRACE, by a read that agreed, or by a dispatcher
    open: int  # a delivery that takes no courier until the rule or a dispatcher settles it
    dispatcher_decides: bool  # DISPUTE_GRACE=never: the open ones wait for a dispatcher


def disputes() -> Disputes:
    # Each order's knowledge keeps the end it was announced (or a dispatcher's verdict on it) once settled.
    opened = OrderKnowledge.objects.filter(~Q(end_announced="") | ~Q(verdict="")).count()
    still = delivery_disputed(Delivery.objects.all()).count()
    return Disputes(opened=opened, settled=opened - still, open=still, dispatcher_decides=grace() is None)


@dataclass(frozen=True)
class RunResult:
    outcomes: Counter[str]
    record: PublishRecord
    requests: RequestStats
    statuses: Counter[str]  # service-order's final status of each order
    deliveries: Counter[str]
    oldest_waiting: datetime | None
    busiest: list[BusyCourier]
    fates: OrderFates
    disputes: Disputes
    check: Report
    stream: StreamReport  # the delivery events read back from OUTBOX_TOPIC
    sweep: Counter[str] = field(default_factory=Counter)  # the sweep's checks by outcome (no event)

    @property
    def ok(self) -> bool:
        return self.check.ok and self.stream.ok


def collect(
    truth: dict[str, str],
    record: PublishRecord,
    requests: RequestStats,
    outcomes: Counter[str],
    queued: set[str],
    stream: StreamReport,
    sweep: Counter[str] | None = None,
) -> RunResult:
    """The run's figures; `queued` holds the orders the consumer queued at least once."""
    waiting = Delivery.objects.filter(selectors.queued())
    busiest = Courier.objects.annotate(n=Count("deliveries")).order_by("-n", "name")[:BUSIEST]
    return RunResult(
        outcomes=outcomes,
        record=record,
        requests=requests,
        statuses=Counter(truth.values()),
        # A disputed delivery is counted apart (`disputes`), whatever its status.
        deliveries=Counter(
            dict(
                delivery_disputed(Delivery.objects.all(), disputed=False)
                .values_list("status")
                .annotate(n=Count("id"))
                .order_by()
            )
        ),
        oldest_waiting=waiting.aggregate(oldest=Min("created_at"))["oldest"],
        busiest=[BusyCourier(c.name, c.get_transport_type_display(), c.n, c.status) for c in busiest],
        fates=order_fates(truth, record.unknown, queued),
        disputes=disputes(),
        check=verify(truth, foreign_ids=record.unknown),
        stream=stream,
        sweep=sweep or Counter(),
    )


def render(console: Console, result: RunResult) -> None:
    console.print()
    console.print(_orders_table(result.fates, result.disputes))
    console.print(_outcomes_table(result))
    _print_sources(console, result)
    console.print(Columns([_service_order_table(result), _deliveries_table(result)], padding=(0, 4)))
    console.print(_busiest_table(result))
    _print_stream(console, result.stream)
    _print_check(console, result)


def _orders_table(fates: OrderFates, disputes: Disputes) -> Table:
    if disputes.dispatcher_decides:
        settled = "ended since: a read agreed, or a dispatcher decided"
        still = "waiting for a dispatcher (DISPUTE_GRACE=never): its delivery open, no new courier for it"
    else:
        settled = "ended since: by the rule once DISPUTE_GRACE passed, or a read agreed"
        still = "within the grace: its delivery open, no new courier for it"
    table = Table(title="Orders: what happened to each (an order counts once per row)", title_justify="left")
    table.add_column("what happened")
    table.add_column("orders", justify="right")
    table.add_column("what it means")
    rows = (
        ("created", fates.orders, "at service-order"),
        ("got a courier", fates.got_courier, "directly or from the queue"),
        ("  directly", fates.directly, "a courier was free when the order came"),
        ("  from the queue", fates.from_queue, "waited, then took the next courier freed"),
        ("waited", fates.waited, "no courier free when the order came: queued"),
        ("  still waiting", fates.still_waiting, "in the queue now, first come first served (not a disputed one)"),
        ("  ended waiting", fates.ended_waiting, "completed or cancelled before a courier came"),
        ("on the way", fates.on_the_way, "a courier has it now (a disputed one counts below)"),
        ("completed", fates.completed, "delivered"),
        ("cancelled", fates.cancelled, "cancelled or deleted at service-order"),
        ("no delivery", fates.no_delivery, "it had ended before we first asked"),
        ("not found", fates.never_existed, "ids service-order never had: no delivery"),
        ("disputed", disputes.opened, "an event said it ended, service-order's reads said active"),
        ("  settled", disputes.settled, settled),
        ("  still disputed", disputes.open, still),
    )
    for label, count, meaning in rows:
        table.add_row(label, str(count), meaning)
    return table


def _outcomes_table(result: RunResult) -> Table:
    table = Table(
        title="Events by outcome (every event counts, copies and retries too)",
        title_justify="left",
    )
    table.add_column("outcome")
    table.add_column("events", justify="right")
    table.add_column("what it means")
    for label, meaning, count in listed(result.outcomes):
        table.add_row(label, str(count), meaning)
    table.add_section()
    table.add_row("processed", str(sum(result.outcomes.values())), "a retried event counts again")
    table.add_row("produced", str(produced(result.record)), "by service-order, chaos included")
    # The sweep's checks come with no event: what it ended (the disputes it settled) counts here, apart.
    swept = [(label, count) for label, _, count in listed(result.sweep) if count and label in SWEEP_SHOWN]
    if swept:
        table.add_section()
        for label, count in swept:
            table.add_row(f"{label} by the sweep", str(count), "a check of the reconcile sweep, no event")
    return table


def _print_sources(console: Console, result: RunResult) -> None:
    record, requests = result.record, result.requests
    duplicates = sum(len(statuses) - len(set(statuses)) for statuses in record.sent.values())
    console.print(
        f"service-order sent {record.valid_total} events of real orders ({duplicates} of them duplicates), "
        f"{len(record.unknown)} of orders it never had and {record.malformed_total} malformed ones; it answered "
        f"{requests.total} requests of the consumer, {requests.by_status.get(503, 0)} of them with 503 in its outage.",
        soft_wrap=True,
        highlight=False,
    )


def _service_order_table(result: RunResult) -> Table:
    table = Table(title="Orders at service-order", title_justify="left")
    table.add_column("order status")
    table.add_column("orders", justify="right")
    for status, count in sorted(result.statuses.items(), key=lambda item: -item[1]):
        table.add_row(status, str(count))
    return table


def _deliveries_table(result: RunResult) -> Table:
    table = Table(title="Deliveries", title_justify="left")
    table.add_column("status")
    table.add_column("deliveries", justify="right")
    disputed = "disputed: for a dispatcher" if result.disputes.dispatcher_decides else "disputed: within the grace"
    for status in Delivery.Status:
        label = "awaiting courier (the queue)" if status == Delivery.Status.AWAITING_COURIER else status.label.lower()
        table.add_row(label, str(result.deliveries.get(status.value, 0)))
        if status == Delivery.Status.ASSIGNED:
            table.add_row(disputed, str(result.disputes.open))
    table.add_section()
    total = sum(result.deliveries.values()) + result.disputes.open
    table.add_row("in all", str(total))
    if result.oldest_waiting is not None:
        waited = (timezone.now() - result.oldest_waiting).total_seconds()
        table.caption = f"the first in the queue has waited {waited:.0f} s"
    return table


def _busiest_table(result: RunResult) -> Table:
    table = Table(title="Busiest couriers", title_justify="left")
    for column in ("courier", "transport", "deliveries", "now"):
        table.add_column(column, justify="right" if column == "deliveries" else "left")
    for courier in result.busiest:
        table.add_row(courier.name, courier.transport, str(courier.deliveries), courier.status)
    return table


def _print_check(console: Console, result: RunResult) -> None:
    check = result.check
    unknown = len(set(result.record.unknown))
    detail = f"({check.checked - unknown} orders, and {unknown} ids service-order never had: no delivery for them)"
    line = f"{check.consistent} of {check.checked} orders consistent"
    if check.courier_problems:
        line += f"; {len(check.courier_problems)} courier problems"
    line += f"[/] with service-order {detail}"
    if check.awaiting_dispatcher:
        # By design with DISPUTE_GRACE=never: the rest of the orders, not a disagreement.
        line += (
            f"; {len(check.awaiting_dispatcher)} more disputed, their deliveries open, taking no new courier: "
            "waiting for a dispatcher (DISPUTE_GRACE=never)"
        )
    if check.ok:
        console.print(f"[bold green]✔ {line}", soft_wrap=True)
        return
    console.print(f"[bold red]✘ {line}", soft_wrap=True)
    for mismatch in check.mismatches[:MISMATCHES_SHOWN]:
        console.print(f"  order {mismatch.order_id}: service-order says {mismatch.truth}, delivery {mismatch.delivery}")
    for problem in check.courier_problems[:MISMATCHES_SHOWN]:
        console.print(f"  {problem}")


def _print_stream(console: Console, stream: StreamReport) -> None:
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(stream.by_type.items())) or "none"
    console.print(
        f"Delivery events published for other teams (docs/events.md): {stream.events - stream.duplicates} "
        f"({stream.duplicates} duplicates read): {counts}",
        soft_wrap=True,
        highlight=False,
    )
    if stream.ok:
        console.print(
            "[bold green]✔ every delivery's events are in the stream, in order[/], the last one as the database has it",
            soft_wrap=True,
        )
        return
    console.print("[bold red]✘ the stream does not match the deliveries[/]", soft_wrap=True)
    for problem in stream.problems[:MISMATCHES_SHOWN]:
        console.print(f"  {problem}", highlight=False)
