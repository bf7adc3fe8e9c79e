"""`leadmail apikey`: a new API key, and signed links opening the pages as a key."""

from __future__ import annotations

import argparse
import secrets
import sys
from datetime import timedelta

from leadmail import tokens
from leadmail.cli.common import load_settings
from leadmail.clock import now
from leadmail.followup import links
from leadmail.followup.access import by_name


def add(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("apikey", help="make an API key; a signed link to the pages")
    ksub = s.add_subparsers(dest="k_cmd", required=True)
    kn = ksub.add_parser("new", help="a new random key and its [[api_keys]] entry")
    kn.add_argument("name")
    kn.add_argument("--role", default="integration",
                    choices=["integration", "agent", "manager", "admin"])
    kl = ksub.add_parser("link", help="a signed link opening the pages as that key")
    kl.add_argument("name")
    kl.add_argument("--page", default="engagement",
                    choices=["engagement", "speed", "sources", "forecast", "leads", "steps"])
    kl.add_argument("--hours", type=int, default=12,
                    help="how long the link works (default 12, at most 2160: 90 days)")
    s.set_defaults(func=cmd_apikey)


def cmd_apikey(args: argparse.Namespace) -> int:
    """`new`: a random key, printed once, and the entry to paste into the config (its digest
    only). `link`: a signed link to a page, valid for `--hours`."""
    if args.k_cmd == "new":
        key = "lm_" + secrets.token_urlsafe(32)
        digest = tokens.key_digest(key)
        print(f"key (give it to the integration; it is not stored): {key}\n\n"
              f"[[api_keys]]\nname = \"{args.name}\"\nkey_sha256 = \"{digest}\"\n"
              f"role = \"{args.role}\"")
        return 0
    if not 1 <= args.hours <= links.MAX_VIEW_HOURS:
        print(f"apikey link: --hours must be 1 to {links.MAX_VIEW_HOURS} (90 days), "
              f"not {args.hours}", file=sys.stderr)
        return 2
    settings = load_settings(args)
    found = by_name(settings, args.name)
    if found is None or found.key is None or not settings.http.secret:
        print(f"apikey link: needs [[api_keys]] name = {args.name!r} and [http] secret",
              file=sys.stderr)
        return 1
    at = now()  # the link stops working when this key is rotated (a new key_sha256)
    token = links.view_token(settings.http.secret, args.name,
                             at + timedelta(hours=args.hours), key_digest=found.key.digest,
                             at=at)
    base = settings.http.base_url or f"http://{settings.http.listen or '127.0.0.1:8025'}"
    print(f"{base}/app/{args.page}?t={token}")
    return 0
