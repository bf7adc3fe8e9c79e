"""Prometheus metrics. Counters live in this process; database-derived gauges are read at
scrape time, so they are right whichever instance did the work.

The pipeline process (leadmail.workerproc) counts in its own copy of these counters and
histograms; after each batch it sends what they gained (`Deltas.take`) to the daemon's
process, which adds it to its own (`merge`), so /metrics shows both processes' work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

RECEIVED = Counter("leadmail_messages_received", "Messages stored by intake", ["intake"],
                   registry=REGISTRY)
PROCESSED = Counter("leadmail_messages_processed", "Messages processed, by outcome and source",
                    ["outcome", "source"], registry=REGISTRY)
STEP_SECONDS = Histogram("leadmail_pipeline_step_seconds", "Time spent per pipeline step",
                         ["step"], registry=REGISTRY,
                         buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
ALERTS = Counter("leadmail_alerts", "Alert delivery attempts by result", ["channel", "result"],
                 registry=REGISTRY)
ASSIGNMENTS = Counter("leadmail_assignments", "Leads assigned, by strategy", ["strategy"],
                      registry=REGISTRY)
AGENT_ACTIONS = Counter("leadmail_agent_actions", "Claims, accepts, declines and assigns from "
                        "alert links and replies, by result", ["via", "action", "result"],
                        registry=REGISTRY)


class DatabaseCollector(Collector):
    """Gauges computed from the database when scraped: message states, outbox backlog."""

    def __init__(self, query: Callable[[], dict[str, Any]]) -> None:
        self.query = query

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Read the counts now."""
        data = self.query()
        messages = GaugeMetricFamily("leadmail_messages_by_status",
                                     "Stored messages by status", labels=["status"])
        for status, count in data.get("messages", {}).items():
            messages.add_metric([status], count)
        yield messages
        outbox = GaugeMetricFamily("leadmail_outbox", "Outbox rows by status", labels=["status"])
        for status, count in data.get("outbox", {}).items():
            outbox.add_metric([status], count)
        yield outbox
        intake = GaugeMetricFamily("leadmail_intake_up", "Intake connected (1) or not (0)",
                                   labels=["intake"])
        for name, up in data.get("intakes", {}).items():
            intake.add_metric([name], 1.0 if up else 0.0)
        yield intake
        drifting = GaugeMetricFamily("leadmail_source_drifting",
                                     "Lead source drifting (1) or healthy (0): leadmail sources",
                                     labels=["source"])
        for source, state in data.get("sources", {}).items():
            drifting.add_metric([source], 1.0 if state == "drifting" else 0.0)
        yield drifting


# What one process's counters and histograms gained: (sample name, labels, amount).
Delta = tuple[str, dict[str, str], float]
_FORWARDED: dict[str, Counter | Histogram] = {
    "leadmail_messages_received": RECEIVED, "leadmail_messages_processed": PROCESSED,
    "leadmail_pipeline_step_seconds": STEP_SECONDS, "leadmail_alerts": ALERTS,
    "leadmail_assignments": ASSIGNMENTS, "leadmail_agent_actions": AGENT_ACTIONS,
}


class Deltas:
    """What this process's counters and histograms gained since the last `take`."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def take(self) -> list[Delta]:
        """The gains since the last call (none that are zero)."""
        gained: list[Delta] = []
        for family in REGISTRY.collect():
            if family.name not in _FORWARDED:
                continue
            for sample in family.samples:
                if sample.name.endswith(("_created", "_count")):  # a count is its buckets'
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                amount = sample.value - self._last.get(key, 0.0)
                if amount:
                    self._last[key] = sample.value
                    gained.append((sample.name, dict(sample.labels), amount))
        return gained


def merge(gained: list[Delta]) -> None:
    """Add another process's gains (`Deltas.take`) to this process's counters and histograms."""
    buckets: dict[tuple[str, tuple[str, ...]], list[tuple[float, float]]] = {}
    for name, labels, amount in gained:
        family, _, kind = name.rpartition("_")
        metric = _FORWARDED.get(family)
        if isinstance(metric, Counter) and kind == "total":
            metric.labels(**labels).inc(amount)
        elif isinstance(metric, Histogram) and kind == "sum":
            metric.labels(**labels)._sum.inc(amount)
        elif isinstance(metric, Histogram) and kind == "bucket":
            le = float(labels.pop("le"))
            key = (family, tuple(labels[n] for n in metric._labelnames))
            buckets.setdefault(key, []).append((le, amount))
    for (family, values), gains in buckets.items():
        # Buckets are cumulative: a gain of the bucket `le` counts those of the ones below it
        # too, and a bucket that gained nothing has none below it that did.
        child = _FORWARDED[family].labels(*values)
        assert isinstance(child, Histogram)
        below = 0.0
        for le, cumulative in sorted(gains):
            child._buckets[child._upper_bounds.index(le)].inc(cumulative - below)
            below = cumulative
