"""GET /steps (open Next Steps) and POST /steps/{id}/complete."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.engine import Engine
from sqlmodel import Session

from leadmail.clock import aware
from leadmail.config import Settings
from leadmail.followup import steps
from leadmail.followup.access import Principal
from leadmail.web.api.keys import Keys
from leadmail.web.api.schemas import AUTH, CompleteIn, LeadId, StepOut, step_out


def router(engine: Engine, settings: Settings, k: Keys) -> APIRouter:
    """GET /steps, POST /steps/{id}/complete."""
    r = k.router()
    Reader = Annotated[Principal, Depends(k.reader)]

    @r.get("/steps", responses=AUTH)
    def list_steps(
        p: Reader,
        agent: Annotated[str | None, Query(max_length=320)] = None,
        due_before: datetime | None = None,
    ) -> list[StepOut]:
        """Open Next Steps of the leads this key may see, soonest due first."""
        with Session(engine) as session:
            due = aware(due_before) if due_before else None
            return [step_out(s) for s, _ in steps.open_steps(
                session, p, agent=agent.lower() if agent else None, due_before=due)]

    @r.post("/steps/{step_id}/complete", responses={
        **AUTH, 404: {"description": "No such step, or not one this key may see"},
        409: {"description": "Already done or cancelled"}})
    def complete_step(step_id: LeadId, p: Reader, body: CompleteIn | None = None) -> list[StepOut]:
        """Mark a step done; the answer is the step and the next one set (if any)."""
        done = steps.complete(engine, settings, step_id, p.user or p.name, via="api", who=p,
                              note=body.note if body else None)
        if done.status == "not_found":
            raise HTTPException(404, "no such step")
        if done.status == "not_allowed":
            raise HTTPException(403, "only the lead's agent or an admin completes its steps")
        if not done.ok:
            raise HTTPException(409, f"this step is {done.status.replace('_', ' ')}")
        assert done.step is not None
        return [step_out(done.step), *([step_out(done.next)] if done.next else [])]

    return r
