"""Soak: mixed traffic over SMTP and IMAP into `leadmail run` for N minutes while the daemon is
SIGKILLed and restarted, the alert relay goes away and comes back, and the IMAP server restarts;
then wait for quiescence and count: messages in, leads out, lost, doubled, alerts.

    python bench/soak.py [--minutes 30] [--db sqlite|postgresql] [--rate 2] [--seed 1]
                         [--instances 1]

Traffic (open loop, --rate messages/s on average): generated leads (one unique person each) and
copies of samples/ (lead and non-lead mail from every provider, each copy with a fresh
Message-ID), sent over SMTP (a new connection each, as an MTA) or APPENDed to a Dovecot INBOX that
the daemon watches (tests/servers/dovecot-test-server.sh); a share of what was already accepted
is sent again on purpose, over either path, bytes unchanged. Like an MTA, the sender keeps a
message it could not hand over (daemon dead, 421/451, Dovecot down, connection cut before the
reply) and tries again later: a message counts as *in* once it got its 250 or its APPEND OK.

Chaos, each on its own randomised clock: SIGKILL the daemon and start it again; stop the alert
relay (an aiosmtpd sink) for a while; stop Dovecot (mail kept) and resume it.

With --instances N, N daemons run on the same database (PostgreSQL is what this is for; SQLite
shares its one file), each with its own SMTP port (and HTTP ports, if the config sets them). SMTP
traffic goes round-robin over them, all of them watch the IMAP folder (its lease gives it to one
at a time), and each SIGKILL hits one instance at random, which is started again after.

Verdict, read from the database and the sink after quiescence:
- lost: a Message-ID that was in but has no stored message, is not finished (every message must
  end as lead / duplicate / non_lead / quarantined), or was expected to make a lead and has none
  (itself or the message it duplicates);
- doubled: a Message-ID with more than one lead, or a generated person with more than one lead
  (the duplicates resent on purpose must map to the one lead);
- alerts: every email row of the outbox must have reached the sink (by its stable Message-ID);
  at-least-once, so copies the sink saw more than once are reported separately, not as errors.
Exit status 1 when lost or doubled is not 0, or an alert never arrived.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import smtplib
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from benchlib import (
    ROOT,
    AlertSink,
    Daemon,
    SinkServer,
    free_port,
    instance_config,
    lead_message,
    pct,
    pg_database,
    send_one,
    wire,
    write_config,
)

RESULTS = ROOT / "bench" / "results"
IMAP_USER, IMAP_PASSWORD = "leads@example.test", "secret"
FINAL = ("lead", "duplicate", "non_lead", "quarantined")


@dataclass
class Item:
    """One distinct message (one Message-ID) the soak offers."""

    key: str  # Message-ID
    raw: bytes
    kind: str  # generated, sample
    expect_lead: bool
    person: str | None = None  # generated: the lead's email, unique
    sample: str | None = None
    via: list[str] = field(default_factory=list)  # each successful hand-over: smtp / imap
    attempts: int = 0


def load_samples() -> list[tuple[str, bytes, bool]]:
    out = []
    for eml in sorted((ROOT / "samples").rglob("*.eml")):
        expected = json.loads(eml.with_suffix(".expected.json").read_text())
        out.append((str(eml.relative_to(ROOT)), eml.read_bytes(), bool(expected["is_lead"])))
    return out


def with_message_id(raw: bytes, message_id: str) -> bytes:
    """The sample's bytes on the wire with its Message-ID replaced (or added)."""
    msg = message_from_bytes(wire(raw), policy=policy.SMTP)
    del msg["Message-ID"]
    msg["Message-ID"] = message_id
    return msg.as_bytes(policy=policy.SMTP)


class Soak:
    def __init__(self, args: argparse.Namespace, db_url: str, tmp: Path) -> None:
        self.args = args
        self.db_url = db_url
        self.tmp = tmp
        self.rng = random.Random(args.seed)
        self.run = f"{args.seed:x}{int(time.time()) % 0xFFFF:04x}"[-6:].rjust(6, "0")
        self.samples = load_samples()
        self.items: list[Item] = []
        self.inbox: list[Item] = []  # handed over at least once (resend candidates)
        self.pending: list[tuple[Item, str, bool]] = []  # (item, path, resend) to try again
        self.lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self.events: list[tuple[float, str]] = []
        self.t0 = time.monotonic()
        self.stop = threading.Event()

        from tests.servers.dovecot import Dovecot

        self.dovecot = Dovecot.start({IMAP_USER: IMAP_PASSWORD})
        self.sink = AlertSink()
        self.relay = SinkServer(self.sink)
        self.relay.start()
        port = free_port()
        imap = f"""
[[imap]]
name = "soak"
host = "127.0.0.1"
port = {self.dovecot.port}
security = "none"
username = "{IMAP_USER}"
password = "{IMAP_PASSWORD}"
folders = ["INBOX"]
backoff_max = 2
timeout = 10
"""
        config = write_config(
            tmp,
            db_url=db_url,
            smtp_port=port,
            relay=f"127.0.0.1:{self.relay.port}",
            extra=imap,
        )
        self.daemons = [Daemon.make(tmp, config, port)]
        for n in range(1, args.instances):
            directory = tmp / f"instance{n}"
            self.daemons.append(Daemon.make(directory, *instance_config(config, directory)))
        self.turn = itertools.count()  # SMTP traffic: round-robin over the instances
        for daemon in self.daemons:
            daemon.start()

    def name(self, daemon: Daemon) -> str:
        """How notes call an instance: "daemon", or "daemon 2" of several."""
        return "daemon" if len(self.daemons) == 1 else f"daemon {self.daemons.index(daemon)}"

    def note(self, what: str) -> None:
        stamp = time.monotonic() - self.t0
        self.events.append((stamp, what))
        print(f"  [{stamp:7.1f}s] {what}", flush=True)

    # -- traffic ---------------------------------------------------------------------------------

    def new_item(self) -> Item:
        n = len(self.items)
        key = f"<soak-{n}.{self.run}@bench.example>"
        if self.rng.random() < 0.7:
            raw = lead_message(n, self.run, message_id=key)
            item = Item(key, raw, "generated", True, person=f"person{n}.{self.run}@bench.example")
        else:
            name, raw, is_lead = self.rng.choice(self.samples)
            item = Item(key, with_message_id(raw, key), "sample", is_lead, sample=name)
        self.items.append(item)
        return item

    def hand_over(self, item: Item, path: str, resend: bool) -> None:
        """One attempt; on failure the item goes back to the pending list (an MTA's queue)."""
        item.attempts += 1
        try:
            if path == "smtp":
                daemon = self.daemons[next(self.turn) % len(self.daemons)]
                code, text = send_one(daemon.proc.port, item.raw, timeout=30)
                ok = code == 250
                if not ok:
                    self.stats[f"smtp_refused_{code}"] += 1
            else:
                self.dovecot.append(IMAP_USER, item.raw)
                ok = True
        except (smtplib.SMTPException, OSError, Exception) as exc:  # noqa: B014 (imaplib errors)
            self.stats[f"{path}_error_{type(exc).__name__}"] += 1
            ok = False
        with self.lock:
            if ok:
                first = not item.via
                item.via.append(path)
                self.stats[f"in_{path}"] += 1
                if resend:
                    self.stats["resent_accepted"] += 1
                if first:
                    self.inbox.append(item)
            else:
                self.pending.append((item, path, resend))

    def traffic(self, until: float) -> None:
        rate = self.args.rate
        with ThreadPoolExecutor(max_workers=32) as pool:
            nxt = time.monotonic()
            while not self.stop.is_set() and time.monotonic() < until:
                nxt += self.rng.expovariate(rate)  # Poisson arrivals
                time.sleep(max(0.0, nxt - time.monotonic()))
                with self.lock:
                    take = self.pending and self.rng.random() < 0.5
                    retry = self.pending.pop(0) if take else None
                    resendable = list(self.inbox[-500:])
                if retry is not None:
                    self.stats["retries"] += 1
                    pool.submit(self.hand_over, *retry)
                    continue
                path = "imap" if self.rng.random() < self.args.imap_share else "smtp"
                if resendable and self.rng.random() < self.args.resend_share:
                    self.stats["resends"] += 1
                    pool.submit(self.hand_over, self.rng.choice(resendable), path, True)
                else:
                    pool.submit(self.hand_over, self.new_item(), path, False)

    def flush_pending(self, timeout: float) -> None:
        """After the traffic: hand over everything still queued (all servers are up now)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                todo, self.pending = self.pending, []
            if not todo:
                return
            for retry in todo:
                self.hand_over(*retry)
            time.sleep(0.5)
        raise SystemExit(f"{len(self.pending)} messages could not be handed over at the end")

    # -- chaos -----------------------------------------------------------------------------------

    def chaos(self, until: float) -> None:
        a = self.args
        clocks = {
            "kill": time.monotonic() + self.rng.uniform(0.5, 1.5) * a.kill_every,
            "relay": time.monotonic() + self.rng.uniform(0.3, 1.0) * a.relay_every,
            "imap": time.monotonic() + self.rng.uniform(0.5, 1.2) * a.imap_every,
        }
        relay_back = imap_back = None
        while not self.stop.is_set() and time.monotonic() < until:
            now = time.monotonic()
            if now >= clocks["kill"]:
                many = len(self.daemons) > 1  # one instance: the random sequence as before
                victim = self.rng.choice(self.daemons) if many else self.daemons[0]
                victim.kill()
                self.stats["daemon_sigkill"] += 1
                down = self.rng.uniform(0, a.kill_down)
                self.note(f"SIGKILL {self.name(victim)}; restart in {down:.1f}s")
                time.sleep(down)
                t = time.monotonic()
                victim.start()
                self.stats["daemon_starts"] += 1
                self.note(f"{self.name(victim)} back (listening after {time.monotonic() - t:.1f}s)")
                clocks["kill"] = time.monotonic() + self.rng.uniform(0.5, 1.5) * a.kill_every
            if relay_back is None and now >= clocks["relay"]:
                self.relay.stop()
                self.stats["relay_outages"] += 1
                length = self.rng.uniform(0.5, 1.5) * a.relay_down
                relay_back = now + length
                self.note(f"relay down for {length:.0f}s")
            if relay_back is not None and now >= relay_back:
                self.relay.start()
                relay_back = None
                self.note("relay up")
                clocks["relay"] = time.monotonic() + self.rng.uniform(0.5, 1.5) * a.relay_every
            if imap_back is None and now >= clocks["imap"]:
                self.dovecot.stop(keep=True)
                self.stats["imap_restarts"] += 1
                length = self.rng.uniform(0.5, 1.5) * a.imap_down
                imap_back = time.monotonic() + length
                self.note(f"Dovecot stopped for {length:.0f}s")
            if imap_back is not None and now >= imap_back:
                self.dovecot.resume()
                imap_back = None
                self.note("Dovecot resumed")
                clocks["imap"] = time.monotonic() + self.rng.uniform(0.5, 1.5) * a.imap_every
            for daemon in self.daemons:
                if daemon.alive():
                    daemon.vmhwm_mib()
                elif not self.stop.is_set():  # it died on its own: that is a finding
                    self.stats["daemon_died_unasked"] += 1
                    code = daemon.proc.proc.returncode  # type: ignore[union-attr]
                    self.note(f"{self.name(daemon)} exited on its own ({code})")
                    daemon.start()
            time.sleep(0.2)
        if relay_back is not None:
            self.relay.start()
            self.note("relay up (end of chaos)")
        if imap_back is not None:
            self.dovecot.resume()
            self.note("Dovecot resumed (end of chaos)")

    # -- verdict ---------------------------------------------------------------------------------

    def query(self, sql: str) -> list[Any]:
        from sqlalchemy import text

        from leadmail.db import make_engine

        engine = make_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql)))
        finally:
            engine.dispose()

    def quiescent(self) -> tuple[bool, str]:
        (unfinished,) = self.query(
            "SELECT count(*) FROM message WHERE status NOT IN "
            "('lead', 'duplicate', 'non_lead', 'quarantined')"
        )[0]
        (stored,) = self.query("SELECT count(DISTINCT message_id) FROM message")[0]
        (outbox,) = self.query("SELECT count(*) FROM outbox WHERE status = 'pending'")[0]
        wanted = sum(1 for i in self.items if i.via)
        sent_ids = {
            f"<leadmail.{r[0]}@brokerage.example>"
            for r in self.query(
                "SELECT idempotency_key FROM outbox WHERE kind = 'email' AND status = 'sent'"
            )
        }
        unseen = len(sent_ids - {a.message_id for a in self.sink.snapshot()})
        state = (
            f"stored {stored}/{wanted} Message-IDs, {unfinished} unfinished, "
            f"{outbox} alerts pending, {unseen} sent-not-seen"
        )
        return stored >= wanted and unfinished == 0 and outbox == 0 and unseen == 0, state

    def verdict(self) -> dict[str, Any]:
        rows = self.query(
            "SELECT id, message_id, status, lead_id, duplicate_of, intake FROM message"
        )
        by_mid: dict[str, list[Any]] = {}
        by_pk = {r[0]: r for r in rows}
        for r in rows:
            by_mid.setdefault((r[1] or "").strip(), []).append(r)
        leads = self.query(
            "SELECT l.id, l.email, m.message_id FROM lead l JOIN message m ON m.id = l.message_pk"
        )
        leads_per_mid = Counter((r[2] or "").strip() for r in leads)
        leads_per_email = Counter((r[1] or "").lower() for r in leads)
        lost: list[str] = []
        doubled: list[str] = []
        accepted = [i for i in self.items if i.via]
        for item in accepted:
            stored = by_mid.get(item.key, [])
            if not stored:
                lost.append(f"{item.key}: not stored")
                continue
            if any(r[2] not in FINAL for r in stored):
                lost.append(f"{item.key}: unfinished {[r[2] for r in stored]}")
            if item.expect_lead:
                has = any(r[3] or (r[4] and by_pk.get(r[4], (0,) * 4)[3]) for r in stored)
                if not has:
                    lost.append(f"{item.key}: no lead ({[r[2] for r in stored]})")
            if leads_per_mid[item.key] > 1:
                doubled.append(f"{item.key}: {leads_per_mid[item.key]} leads")
            if item.person and leads_per_email[item.person] > 1:
                doubled.append(f"{item.person}: {leads_per_email[item.person]} leads")
        ours = {i.key for i in self.items}
        strays = sorted(mid for mid in by_mid if mid not in ours)
        alerts = self.query("SELECT idempotency_key, status FROM outbox WHERE kind = 'email'")
        sink = self.sink.snapshot()
        seen = Counter(a.message_id for a in sink)
        expected_ids = {f"<leadmail.{k}@brokerage.example>" for k, _ in alerts}
        delivered = expected_ids & seen.keys()
        statuses = Counter(r[2] for r in rows)
        alerted = {
            r[0]
            for r in self.query(
                "SELECT DISTINCT lead_id FROM outbox WHERE kind = 'email' AND lead_id IS NOT NULL"
            )
        }
        silent = Counter(
            r[1] for r in self.query("SELECT id, status FROM lead") if r[0] not in alerted
        )
        handed = Counter(p for i in accepted for p in i.via)
        return {
            "messages_offered_distinct": len(self.items),
            "messages_in_distinct": len(accepted),
            "hand_overs": {"smtp_250": handed["smtp"], "imap_append": handed["imap"]},
            "resent_on_purpose_accepted": self.stats["resent_accepted"],
            "expected_leads": sum(1 for i in accepted if i.expect_lead),
            "stored_messages": len(rows),
            # a copy stored although the sender saw no 250 (SIGKILL between commit and reply) or
            # fetched again over IMAP (killed before \Seen): each must end as a duplicate
            "stored_beyond_hand_overs": len(rows) - handed["smtp"] - handed["imap"],
            "message_status": dict(statuses),
            "leads_out": len(leads),
            "lost": len(lost),
            "doubled": len(doubled),
            "lost_examples": lost[:10],
            "doubled_examples": doubled[:10],
            "stray_message_ids": strays[:10],
            "alerts_expected": len(expected_ids),
            "alerts_outbox_status": dict(Counter(r[1] for r in alerts)),
            "alerts_delivered_distinct": len(delivered),
            "alerts_missing": len(expected_ids - delivered),
            "leads_without_alert_by_status": dict(silent),
            "alerts_seen_at_sink": len(sink),
            "alert_copies_beyond_first": sum(c - 1 for c in seen.values() if c > 1),
            "unexpected_at_sink": len(seen.keys() - expected_ids),
            "attempts_per_message_p99": pct([i.attempts for i in accepted], 0.99),
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--rate", type=float, default=2.0, help="average new messages/s offered")
    ap.add_argument("--imap-share", type=float, default=0.3, help="share sent by IMAP APPEND")
    ap.add_argument(
        "--resend-share",
        type=float,
        default=0.15,
        help="share of sends that repeat an accepted message",
    )
    ap.add_argument("--kill-every", type=float, default=60, help="mean seconds between SIGKILLs")
    ap.add_argument("--kill-down", type=float, default=3, help="most seconds the daemon stays dead")
    ap.add_argument("--relay-every", type=float, default=90, help="mean seconds between outages")
    ap.add_argument("--relay-down", type=float, default=20, help="mean outage length, seconds")
    ap.add_argument("--imap-every", type=float, default=75, help="mean seconds between restarts")
    ap.add_argument("--imap-down", type=float, default=5, help="mean IMAP downtime, seconds")
    ap.add_argument("--quiesce", type=float, default=600, help="most seconds to wait at the end")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--instances",
        type=int,
        default=1,
        help="daemons on the same database, SMTP spread over them, SIGKILLs at a random one",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    tmp = Path(tempfile.mkdtemp(prefix="leadmail-soak-"))
    started = time.monotonic()

    def body(db_url: str) -> dict[str, Any]:
        soak = Soak(args, db_url, tmp)
        try:
            logs = ", ".join(str(d.proc.log) for d in soak.daemons)
            print(
                f"soak: {args.minutes:g} min on {args.db}, ~{args.rate:g} msg/s, "
                f"{args.instances} instance(s), daemon log {logs}",
                flush=True,
            )
            until = time.monotonic() + args.minutes * 60
            chaos = threading.Thread(target=soak.chaos, args=(until,))
            chaos.start()
            soak.traffic(until)
            chaos.join()
            for daemon in soak.daemons:
                if not daemon.alive():
                    daemon.start()
            soak.note("traffic over; handing over what is still queued")
            soak.flush_pending(120)
            soak.note("waiting for quiescence")
            t = time.monotonic()
            deadline = t + args.quiesce
            stable_since, last = None, None
            while True:
                ok, state = soak.quiescent()
                if ok:
                    count = len(soak.sink.snapshot())
                    if count == last and stable_since and time.monotonic() - stable_since > 3:
                        break
                    if count != last:
                        stable_since, last = time.monotonic(), count
                if time.monotonic() > deadline:
                    soak.note(f"NOT quiescent after {args.quiesce:g}s: {state}")
                    break
                time.sleep(1)
            quiesce_s = time.monotonic() - t
            soak.note(f"quiescent after {quiesce_s:.0f}s: {state}")
            verdict = soak.verdict()
            codes = [d.stop() for d in soak.daemons]
            verdict.update(
                {
                    "quiesce_seconds": quiesce_s,
                    "daemon_exit_code_at_end": next((c for c in codes if c), 0),
                    "daemon_exit_codes_at_end": codes,
                    # the highest VmHWM of any instance, over all its incarnations
                    "daemon_peak_rss_mib": max(d.peak_rss_mib for d in soak.daemons),
                    "counters": dict(soak.stats),
                    "events": soak.events,
                }
            )
            return verdict
        finally:
            for daemon in soak.daemons:
                if daemon.alive():
                    daemon.proc.proc.kill()  # type: ignore[union-attr]
            soak.relay.stop()
            soak.dovecot.stop()

    if args.db == "postgresql":
        with pg_database("leadmail_soak") as url:
            verdict = body(url)
    else:
        verdict = body(f"sqlite:///{tmp / 'leadmail.db'}")
    verdict.update(
        {
            "minutes": args.minutes,
            "database": args.db,
            "instances": args.instances,
            "rate": args.rate,
            "seed": args.seed,
            "wall_seconds": time.monotonic() - started,
        }
    )
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"soak-{stamp}.json"
    out.write_text(json.dumps(verdict, indent=2) + "\n")
    c = verdict["counters"]
    failures = {k: v for k, v in c.items() if "error" in k or "refused" in k}
    print(f"""
leadmail soak: {args.minutes:g} min on {args.db}, {args.instances} instance(s), \
seed {args.seed}, wall {verdict["wall_seconds"]:.0f} s
  chaos: {c.get("daemon_sigkill", 0)} SIGKILLs, {c.get("relay_outages", 0)} relay outages, \
{c.get("imap_restarts", 0)} Dovecot restarts, {c.get("daemon_died_unasked", 0)} unasked deaths
  messages in (distinct Message-IDs)  {verdict["messages_in_distinct"]} \
({verdict["hand_overs"]["smtp_250"]} SMTP 250s + {verdict["hand_overs"]["imap_append"]} APPENDs, \
{verdict["resent_on_purpose_accepted"]} of them resent on purpose)
  stored messages by status          {verdict["message_status"]}
  extra copies stored (lost replies, IMAP refetch) {verdict["stored_beyond_hand_overs"]}
  leads out                          {verdict["leads_out"]} (expected {verdict["expected_leads"]})
  lost                               {verdict["lost"]}
  doubled                            {verdict["doubled"]}
  alerts delivered / expected        {verdict["alerts_delivered_distinct"]} / \
{verdict["alerts_expected"]} (missing {verdict["alerts_missing"]})
  alert copies beyond the first      {verdict["alert_copies_beyond_first"]} \
(at-least-once; {verdict["alerts_seen_at_sink"]} received in all)
  leads with no alert (by status)    {verdict["leads_without_alert_by_status"]}
  sender-side failures (retried)     {failures}
  quiescent after                    {verdict["quiesce_seconds"]:.0f} s
  daemon peak RSS (max VmHWM)        {verdict["daemon_peak_rss_mib"]:.0f} MiB \
(exit codes at the end {verdict["daemon_exit_codes_at_end"]})
wrote {out}""")
    for line in verdict["lost_examples"] + verdict["doubled_examples"]:
        print("  !", line)
    bad = verdict["lost"] or verdict["doubled"] or verdict["alerts_missing"]
    if bad:
        print(f"kept {tmp} (daemon logs, SQLite database)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
