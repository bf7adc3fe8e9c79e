"""Extraction throughput over samples/ with the spaCy model loaded, beside mail-parser's bare
parse rate measured in the same run; the share of messages that ran NER; per-parser rates; peak
memory; then the daemon's reader pool (`sandbox.ReadPool`, reader processes) with 1 and with
--workers readers, rates and the readers' CPU read from /proc. A script, not a test: timings
belong in a report, not in a pass/fail.

    python bench/extract_throughput.py [--messages 2000] [--samples samples] [--workers N]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import resource
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import mailparser
from benchlib import process_tree, stat_fields

from leadmail import config, pipeline, sandbox
from leadmail.errors import Quarantine
from leadmail.parsers import nlp

ROOT = Path(__file__).resolve().parent.parent
# "rfc822-headers not handled" x N; at import, so the reader processes (forked from a server
# that imported this script) are quiet too
logging.getLogger("mailparser").setLevel(logging.ERROR)


def main() -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2000, help="messages per measured pass")
    ap.add_argument("--samples", type=Path, default=ROOT / "samples")
    ap.add_argument("--config", type=Path, default=ROOT / "leadmail" / "defaults" / "demo.toml")
    ap.add_argument("--rules", type=Path, default=ROOT / "leadmail" / "defaults" / "rules")
    ap.add_argument("--workers", type=int, default=sandbox.default_size(),
                    help="reader processes measured beside 1 (default: the CPU count, as the "
                    "daemon's [pipeline] workers)")
    args = ap.parse_args()

    files = sorted(args.samples.rglob("*.eml"))
    if not files:
        print(f"no .eml under {args.samples}", file=sys.stderr)
        return 1
    raws = [f.read_bytes() for f in files]
    repeat = math.ceil(args.messages / len(raws))
    batch = raws * repeat

    settings = config.load(args.config, env={"LEADMAIL_RULES_DIR": str(args.rules)})
    rt = pipeline.Runtime.load(settings)
    t0 = time.perf_counter()
    model = nlp.load_model()
    load_s = time.perf_counter() - t0

    # Count NER runs: the one costly step, which structured parsers must never reach.
    ner_calls = 0
    real_ner = nlp.ner_names

    def counting_ner(*a, **k):  # type: ignore[no-untyped-def]
        nonlocal ner_calls
        ner_calls += 1
        return real_ner(*a, **k)

    nlp.ner_names = counting_ner  # type: ignore[assignment]
    for raw in raws:  # warm up caches (regexes, phonenumbers metadata, spaCy vocab)
        _read(raw, rt)
        mailparser.parse_from_bytes(raw)

    t0, c0 = time.perf_counter(), time.process_time()
    for raw in batch:
        mailparser.parse_from_bytes(raw)
    bare_s, bare_cpu = time.perf_counter() - t0, time.process_time() - c0

    ner_calls = 0
    per_parser: dict[str, list[float]] = defaultdict(list)
    ner_by_parser: dict[str, int] = defaultdict(int)
    t0, c0 = time.perf_counter(), time.process_time()
    for raw in batch:
        before = ner_calls
        start = time.perf_counter()
        parser = _read(raw, rt)
        per_parser[parser].append(time.perf_counter() - start)
        ner_by_parser[parser] += ner_calls - before
    read_s, read_cpu = time.perf_counter() - t0, time.process_time() - c0
    nlp.ner_names = real_ner  # type: ignore[assignment]

    n = len(batch)
    ner_messages = sum(ner_by_parser.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"samples: {len(files)} files x {repeat} = {n} messages; spaCy model "
          f"{nlp.DEFAULT_MODEL} ({', '.join(model.pipe_names) or 'blank'}) loaded in "
          f"{load_s:.2f} s")
    # Wall-clock rates move with whatever else runs on the machine; CPU time per message (this
    # process only) and the ratio of the two rates in CPU terms are what to compare run to run.
    print(f"mail-parser bare parse   {n / bare_s:8.0f} msg/s  "
          f"({bare_cpu / n * 1000:.2f} CPU-ms/msg)")
    print(f"leadmail pipeline.read   {n / read_s:8.0f} msg/s  "
          f"({read_s / n * 1000:.2f} ms/msg, {read_cpu / n * 1000:.2f} CPU-ms/msg; parse + rule + "
          f"extract + normalize + classify)")
    print(f"read step / bare parse   {bare_cpu / read_cpu:8.3f}  (CPU rates; {n / read_cpu:.0f} vs "
          f"{n / bare_cpu:.0f} msg/s per core)")
    print(f"ran spaCy NER            {ner_messages / n:8.1%}  ({ner_messages} of {n} messages)")
    print(f"peak memory (max RSS)    {peak_mb:8.0f} MiB")
    print()
    print(f"{'parser':12} {'messages':>8} {'msg/s':>8} {'median ms':>10} {'NER runs':>9}")
    for parser, times in sorted(per_parser.items(), key=lambda kv: -len(kv[1])):
        rate = len(times) / sum(times)
        med = statistics.median(times) * 1000
        print(f"{parser:12} {len(times):>8} {rate:>8.0f} {med:>10.2f} {ner_by_parser[parser]:>9}")
    print()
    print(f"reader pool (sandbox.ReadPool as the daemon builds it, {sandbox.default_size()} CPUs; "
          "CPU = the reader processes' user + system from /proc)")
    single = None
    for size in sorted({1, args.workers}):
        wall, cpu, here, box = _pool_pass(rt, size, raws, batch)
        single = single or n / wall
        print(f"ReadPool {size} reader{'s' if size > 1 else ' '}    {n / wall:8.0f} msg/s  "
              f"({cpu / n * 1000:.2f} CPU-ms/msg in the readers, {cpu / wall:.2f} cores busy; "
              f"{here / n * 1000:.2f} CPU-ms/msg in this process; x{n / wall / single:.2f} "
              f"the 1-reader rate; other work on the box {max(0.0, box - cpu - here) / wall:.2f} "
              "cores)")
    structured = {p for p in per_parser if p not in ("nlp", "referral", "craigslist", "nonlead")}
    leaked = {p: ner_by_parser[p] for p in structured if ner_by_parser[p]}
    if leaked:
        print(f"\nstructured parsers that ran NER: {leaked}", file=sys.stderr)
        return 1
    return 0


def _pool_pass(
    rt: pipeline.Runtime, size: int, raws: list[bytes], batch: list[bytes]
) -> tuple[float, float, float, float]:
    """The batch read through a ReadPool of `size` readers, `size` threads handing messages
    over as the daemon's workers do; (wall seconds, the readers' CPU seconds, this process's
    CPU seconds, the whole machine's busy CPU seconds meanwhile). Every reader reads the
    samples once first (spaCy loaded, caches warm)."""
    pc = rt.settings.pipeline
    pool = sandbox.ReadPool(rt, size, pc.read_time_limit,
                            pc.read_memory_limit * 1024 * 1024 or None)

    def run(messages: list[bytes], threads: int) -> None:
        def part(i: int) -> None:
            for raw in messages[i::threads]:
                try:
                    pool.read(raw, "smtp")
                except Quarantine:
                    pass

        workers = [threading.Thread(target=part, args=(i,)) for i in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()

    try:
        pool.warm()
        run(raws * size, size)
        b0, c0, t0, h0 = _box_busy(), _readers_cpu(), time.perf_counter(), time.process_time()
        run(batch, size)
        wall, here = time.perf_counter() - t0, time.process_time() - h0
        return wall, _readers_cpu() - c0, here, _box_busy() - b0
    finally:
        pool.close()


def _readers_cpu() -> float:
    """User + system CPU seconds of this process's reader processes (the fork server's
    children, so this process's grandchildren), from /proc."""
    me = os.getpid()
    ticks = 0
    for pid in process_tree(me):
        fields = stat_fields(pid)
        if fields and pid != me and int(fields[1]) != me:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _box_busy() -> float:
    """CPU seconds the whole machine has been busy (not idle, not waiting for I/O), all cores,
    from /proc/stat."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _read(raw: bytes, rt: pipeline.Runtime) -> str:
    """pipeline.read one message; the name of the parser that read it."""
    try:
        return pipeline.read(raw, rt).parser or "?"
    except Quarantine:
        return "quarantine"


if __name__ == "__main__":
    raise SystemExit(main())
