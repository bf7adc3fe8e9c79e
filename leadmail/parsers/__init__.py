"""The parser registry: every lead parser, in match order, and the one entry point."""

from __future__ import annotations

from leadmail.parsers.adf import AdfParser
from leadmail.parsers.base import Extracted, Mail, ParseContext, Parser
from leadmail.parsers.craigslist import CraigslistParser
from leadmail.parsers.everquote import EverQuoteParser
from leadmail.parsers.facebook import FacebookParser
from leadmail.parsers.google_ads import GoogleAdsParser
from leadmail.parsers.homelight import HomeLightParser
from leadmail.parsers.homes import HomesParser
from leadmail.parsers.idx import IdxParser
from leadmail.parsers.lendingtree import LendingTreeParser
from leadmail.parsers.nlp import DirectParser
from leadmail.parsers.nonlead import non_lead_reason
from leadmail.parsers.opcity import OpcityParser
from leadmail.parsers.realtor import RealtorParser
from leadmail.parsers.redfin import RedfinParser
from leadmail.parsers.referral import ReferralParser
from leadmail.parsers.trulia import TruliaParser
from leadmail.parsers.website import WebsiteParser
from leadmail.parsers.zillow import ZillowParser

__all__ = ["PARSERS", "extract", "get", "module_name", "non_lead_reason"]

# Match order: structured formats, then forwards (unwrapped and re-matched), then providers
# by sender (Trulia before Zillow and Opcity before Realtor.com: each shares its parent's
# domains), then relays (Google Ads before Facebook: both come through Zapier), then generic
# forms; the NLP fallback claims everything and must stay last.
PARSERS: list[Parser] = [
    AdfParser(),
    ReferralParser(),
    TruliaParser(),
    ZillowParser(),
    OpcityParser(),
    RealtorParser(),
    RedfinParser(),
    HomesParser(),
    HomeLightParser(),
    LendingTreeParser(),
    EverQuoteParser(),
    CraigslistParser(),
    GoogleAdsParser(),
    FacebookParser(),
    IdxParser(),
    WebsiteParser(),
    DirectParser(),
]


def module_name(parser: Parser) -> str:
    """The short name a result records: the parser's module ("zillow", "nlp")."""
    return type(parser).__module__.rpartition(".")[2]


def get(name: str) -> Parser:
    """The parser by canonical source name or module name, case-insensitive."""
    wanted = name.strip().lower()
    for parser in PARSERS:
        if wanted in (parser.name.lower(), module_name(parser)):
            return parser
    known = ", ".join(p.name for p in PARSERS)
    raise KeyError(f"unknown parser {name!r}; known: {known}")


def extract(mail: Mail, ctx: ParseContext, parser_name: str | None = None) -> Extracted:
    """Non-leads first; then the named parser (a source rule may force one) or the first that
    claims the mail."""
    reason = non_lead_reason(mail)
    if reason:
        return Extracted(parser="nonlead", is_lead=False, not_lead_reason=reason)
    parser = get(parser_name) if parser_name else next(p for p in PARSERS if p.claims(mail))
    result = parser.parse(mail, ctx)
    result.parser = result.parser or module_name(parser)
    result.source = result.source or parser.name
    return result
