"""HomeLight agent-match referrals (sellers and buyers)."""

from __future__ import annotations

import re

from leadmail.parsers.common import Layout, LayoutReader

_DOMAINS = ("homelight.com",)
_LAYOUT = Layout(
    source="HomeLight",
    parser="homelight",
    domains=_DOMAINS,
    keep_unknown=True,
    # HomeLight's own staff sign every referral with a local number and a homelight.com address.
    skip_labels=frozenset({"homelight contact", "client success manager", "referral manager",
                           "your referral manager", "transaction coordinator", "hl contact"}),
)


class HomeLightParser(LayoutReader):
    """A HomeLight referral: the matched client, their home (sellers) or budget (buyers)."""

    name = "HomeLight"
    domains = _DOMAINS
    marker = re.compile(r"(?i)\bhomelight\b.{0,40}(referral|match|client|lead)")
    layout = _LAYOUT
    # a seller's home address is both their address and the property
    seller = re.compile(r"(?i)\bsell(er|ing)?\b")
    buyer = re.compile(r"(?i)\bbuy(er|ing)?\b")
