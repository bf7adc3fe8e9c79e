"""Who vouches for a mail's sender: the session it came in (SMTP AUTH), the folder it was
found in (an agent's IMAP Sent folder), or the operator's MX through its
Authentication-Results headers (RFC 8601) from a `[followup] trusted_authserv_ids` host.

Mail headers are the sender's to write: From proves nothing, and an Authentication-Results
header counts only when its authserv-id is one the operator listed (their MX removes incoming
ones that claim its id). Used for an agent's own mail to a lead (followup.activity) and for
answers to alerts (routing.replies).
"""

from __future__ import annotations

from typing import Any

from leadmail.config import Settings
from leadmail.models import Message


def vouched_by(
    settings: Settings, msg: Message | None, headers: Any, agent: Any, senders: list[str]
) -> tuple[str | None, str | None]:
    """(how the agent is vouched for, None), or (None, why not). Trusted: an SMTP/LMTP session
    that said AUTH as the agent (its email or an alias); the agent's own [[imap]] sent_folders;
    Authentication-Results from a [followup] trusted_authserv_ids host (your MX) with
    dmarc=pass or dkim=pass for the From domain, or auth=pass as the agent."""
    if len(set(senders)) != 1:
        return None, "the From header names several addresses"
    why: list[str] = []
    if msg is not None and msg.intake in ("smtp", "lmtp"):
        if msg.auth_user and settings.find_agent(msg.auth_user) is agent:
            return f"{msg.intake} auth", None
        why.append(f"came over {msg.intake.upper()} logged in as {msg.auth_user}, not as the "
                   "agent" if msg.auth_user else f"came over {msg.intake.upper()} without AUTH")
    elif msg is not None and msg.intake == "imap":
        for account in settings.imap:
            if (f"{account.username}@{account.host}" == msg.imap_account
                    and msg.imap_folder in account.sent_folders
                    and settings.find_agent(account.username) is agent):
                return "imap sent folder", None
        why.append(f"came from IMAP folder {msg.imap_folder!r} of {msg.imap_account}, not from "
                   "the agent's sent_folders")
    else:
        why.append(f"came by {msg.intake if msg else 'unknown'} intake")
    trusted = settings.followup.trusted_authserv_ids
    results = [r for r in auth_results(headers) if r[0] in trusted]
    if not trusted:
        why.append("no [followup] trusted_authserv_ids to believe Authentication-Results from")
    elif not results:
        why.append("no Authentication-Results from " + ", ".join(trusted))
    else:
        domain = senders[0].rpartition("@")[2]
        names = {agent.email, *agent.aliases}
        failed = [r for r in results if not _passes(r[1], domain, names)]
        if not failed:
            return f"authentication-results {results[0][0]}", None
        got = "; ".join(f"{m}={res}" for m, res, _ in failed[0][1]) or "none"
        why.append(f"Authentication-Results from {failed[0][0]} has no pass for {domain} "
                   f"({got})")
    return None, "sender not vouched for: " + "; ".join(why)


def _passes(resinfo: list[tuple[str, str, dict[str, str]]], domain: str, names: set[str]) -> bool:
    for method, result, props in resinfo:
        if result != "pass":
            continue
        if method == "dmarc" and props.get("header.from") == domain:
            return True
        if method == "dkim" and (props.get("header.d") == domain
                                 or props.get("header.i", "").endswith("@" + domain)):
            return True
        if method == "auth" and props.get("smtp.auth") in names:  # your MX's own submission
            return True
    return False


def _uncomment(text: str) -> str:
    """RFC 5322 comments (nested parentheses) removed; quoted strings kept."""
    out, depth, quoted, escaped = [], 0, False, False
    for ch in text:
        if escaped:
            escaped = False
            if not depth:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if not depth:
                out.append(ch)
            continue
        if ch == '"' and not depth:
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
            continue
        elif not quoted and ch == ")" and depth:
            depth -= 1
            continue
        if not depth:
            out.append(ch)
    return "".join(out)


def auth_results(headers: Any) -> list[tuple[str, list[tuple[str, str, dict[str, str]]]]]:
    """Every Authentication-Results header (RFC 8601) as (authserv-id, [(method, result,
    {ptype.property: value})]), all lower case."""
    out = []
    for value in headers.get_all("Authentication-Results") or []:
        parts = [p.strip() for p in _uncomment(" ".join(str(value).split())).split(";")]
        if not parts or not parts[0]:
            continue
        authserv = parts[0].split()[0].lower()
        resinfo = []
        for part in parts[1:]:
            tokens = part.split()
            if not tokens or "=" not in tokens[0]:
                continue
            method, _, result = tokens[0].partition("=")
            props = {}
            for token in tokens[1:]:
                key, sep, val = token.partition("=")
                if sep:
                    props[key.lower()] = val.strip('"').lower()
            resinfo.append((method.split("/")[0].lower(), result.lower(), props))
        out.append((authserv, resinfo))
    return out
