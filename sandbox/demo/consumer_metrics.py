"""The consumer's Prometheus counters of processed events and of its sweep's checks, read over HTTP as any
scraper would."""

from collections import Counter

import requests
from prometheus_client.parser import text_string_to_metric_families

EVENTS_SAMPLE = "courier_events_total"
SWEEP_SAMPLE = "courier_reconcile_checks_total"


def outcomes(port: int, timeout: float = 2.0, sample: str = EVENTS_SAMPLE) -> Counter[str] | None:
    """Events processed so far by outcome (or, with SWEEP_SAMPLE, the sweep's checks); None if the consumer
    did not answer."""
    try:
        response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=timeout)
        response.raise_for_status()
    except requests.RequestException:
        return None
    counts: Counter[str] = Counter()
    wanted = sample
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == wanted:
                counts[sample.labels["outcome"]] += int(sample.value)
    return counts
