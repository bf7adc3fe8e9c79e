"""An agent's own lead goes to that agent whatever the pond's strategy, against a running
daemon: posted by the agent's own integration key into a round-robin pond, every one is
theirs, and a colleague's key cannot read it. Company leads still go round.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import Sink
from tests.e2e.serve import serve

pytestmark = pytest.mark.e2e
BEN_SITE, COMPANY, ANA = "ben-site-key-0123456789abcd", "company-key-0123456789abcd", (
    "ana-agent-key-0123456789abcd")
ADMIN = "admin-key-0123456789abcdef"


@pytest.fixture
def base(tmp_path: Path, sink: Sink, daemon_factory):  # type: ignore[no-untyped-def]
    extra = f"""[[routes]]
pond = "default"
strategy = "round_robin"
[[api_keys]]
name = "ben-site"
key = "{BEN_SITE}"
role = "integration"
origin = "agent"
agent = "ben@brokerage.example"
[[api_keys]]
name = "company"
key = "{COMPANY}"
role = "integration"
[[api_keys]]
name = "admin"
key = "{ADMIN}"
role = "admin"
[[api_keys]]
name = "ana"
key = "{ANA}"
role = "agent"
user = "ana@brokerage.example"
"""
    served = serve(tmp_path, sink, daemon_factory, extra=extra)
    yield served.base
    assert served.stop() == 0


def _post(base: str, key: str, n: int) -> dict[str, object]:
    """Post a lead; the lead as the admin sees it."""
    r = httpx.post(base + "/api/v1/leads", headers={"X-API-Key": key}, timeout=30,
                   json={"full_name": f"Own Person{n}", "email": f"own{n}@example.com"})
    assert r.status_code == 201, r.text
    got = httpx.get(f"{base}/api/v1/leads/{r.json()['lead_id']}", timeout=10,
                    headers={"X-API-Key": ADMIN})
    assert got.status_code == 200, got.text
    body: dict[str, object] = got.json()
    return body


def test_an_agents_own_lead_is_theirs_in_a_round_robin_pond(base: str) -> None:
    own = [_post(base, BEN_SITE, n) for n in range(4)]
    assert {p["agent"] for p in own} == {"ben@brokerage.example"}, own
    company = [_post(base, COMPANY, 10 + n) for n in range(3)]
    assert len({p["agent"] for p in company}) == 3  # company leads still go round
    for p in own:
        r = httpx.get(f"{base}/api/v1/leads/{p['id']}", headers={"X-API-Key": ANA},
                      timeout=10)
        assert r.status_code in (403, 404), r.text
