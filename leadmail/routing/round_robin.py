"""Round-robin: even or weighted rotation over a pond, its position persisted per pond."""

from __future__ import annotations

from sqlmodel import Session, select

from leadmail.config import AgentConfig
from leadmail.models import RoutingState, utcnow


def rotation(agents: list[AgentConfig]) -> list[AgentConfig]:
    """The rotation order: agent A with weight 2 and B with 1 gives A, B, A (interleaved)."""
    rounds = max((a.weight for a in agents), default=0)
    return [a for r in range(rounds) for a in agents if a.weight > r]


class RoundRobin:
    """Next agent after the last one served, skipping inactive agents."""

    name = "round_robin"

    def assign(
        self, session: Session, pond: str, agents: list[AgentConfig], skipped: list[dict[str, str]]
    ) -> AgentConfig | None:
        """Advance the pond's persisted position to the next eligible agent."""
        order = rotation(agents)
        if not order:
            return None
        # Row lock: two workers on PostgreSQL never hand out the same position.
        state = session.exec(
            select(RoutingState).where(RoutingState.pond == pond).with_for_update()
        ).first()
        if state is None:
            state = RoutingState(pond=pond, position=0)
            session.add(state)
            session.flush()
        for step in range(len(order)):
            candidate = order[(state.position + step) % len(order)]
            if not candidate.active:
                if not any(s["agent"] == candidate.email for s in skipped):
                    skipped.append({"agent": candidate.email, "why": "inactive"})
                continue
            state.position = (state.position + step + 1) % len(order)
            state.last_agent = candidate.email
            state.updated_at = utcnow()
            session.add(state)
            return candidate
        return None
