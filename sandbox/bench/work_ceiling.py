"""The work ceiling: orders per second that bare threads complete doing only the unavoidable work.

Per order: one GET to service-order over a pooled session, one transaction that locks a free courier
(FOR UPDATE SKIP LOCKED), marks it busy and inserts the delivery. No Kafka, no logging, no checks.
A process of its own, like the consumer, so that it does not share a GIL with the simulator:

python -m sandbox.bench.work_ceiling --service-url URL --threads 8 IDS_FILE  (prints {"orders", "seconds"})
"""

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import django
import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from sandbox.bench.errors import BenchError
from sandbox.bench.measure import Throughput

ORDER_PATH = "/public/api/v1/order/{}"
TIMEOUT = 300.0


def work_ceiling(
    env: dict[str, str], service_url: str, order_ids: Sequence[str], threads: int, workdir: Path
) -> Throughput:
    """Run the ceiling process over `order_ids` against the database and service-order of `env`."""
    ids_file = workdir / "ceiling-orders.txt"
    ids_file.write_text("\n".join(order_ids))
    command = [sys.executable, "-m", "sandbox.bench.work_ceiling", "--service-url", service_url]
    completed = subprocess.run(
        [*command, "--threads", str(threads), str(ids_file)],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"the work ceiling failed ({completed.returncode}): {completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return Throughput(result["orders"], result["seconds"])


def _assign(session: requests.Session, service_url: str, order_id: str) -> None:
    from django.db import transaction
    from django.utils import timezone

    from couriers.models import Courier, Delivery, OrderKnowledge

    response = session.get(service_url + ORDER_PATH.format(order_id), timeout=5)
    response.raise_for_status()
    now = timezone.now()
    with transaction.atomic():
        free = Courier.objects.select_for_update(skip_locked=True).filter(status=Courier.Status.AVAILABLE)
        courier_id = free.values_list("pk", flat=True).first()
        if courier_id is None:
            raise RuntimeError("no free courier: the bench seeds one per order")
        Courier.objects.filter(pk=courier_id).update(status=Courier.Status.BUSY, updated_at=now)
        known = OrderKnowledge.objects.create(order_id=order_id, read_status=response.json()["status"], read_at=now)
        Delivery.objects.create(order=known, courier_id=courier_id, status=Delivery.Status.ASSIGNED, assigned_at=now)


def _worker(
    todo: "queue.SimpleQueue[str]", session: requests.Session, service_url: str, start: threading.Barrier
) -> None:
    from django.db import connection

    start.wait()
    try:
        while True:
            try:
                order_id = todo.get_nowait()
            except queue.Empty:
                return
            _assign(session, service_url, order_id)
    finally:
        connection.close()


def run(order_ids: Sequence[str], service_url: str, threads: int) -> float:
    """Seconds for `threads` threads to get through every order."""
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for order_id in order_ids:
        todo.put(order_id)
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=threads))
    start = threading.Barrier(threads + 1)
    with ThreadPoolExecutor(threads, thread_name_prefix="ceiling") as pool:
        workers = [pool.submit(_worker, todo, session, service_url, start) for _ in range(threads)]
        start.wait()
        started = time.monotonic()
        for worker in workers:
            worker.result()  # a failed order fails the run
        return time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service-url", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("ids_file", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courier_project.settings")
    django.setup()
    order_ids = args.ids_file.read_text().split()
    seconds = run(order_ids, args.service_url, args.threads)
    print(json.dumps({"orders": len(order_ids), "seconds": seconds}))


if __name__ == "__main__":
    main()
