"""Prometheus metrics. Counters live in this process; database-derived gauges are read at
scrape time, so they are right whichever instance did the work."""

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
