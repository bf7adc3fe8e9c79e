"""Alerts: what agents and managers are told, and how it reaches them.

    outbox (rows in the routing transaction) → channel (email, webhook) → delivered at least once

alert.py composes what an alert says, render.py fills the templates, links.py signs the links in
it, email.py and webhook.py deliver, replies.py reads agents' answers, digest.py tells managers.
"""


class PermanentFailure(Exception):
    """The receiver refused for good (a 5xx from the relay, a 4xx from a webhook): no retry."""
