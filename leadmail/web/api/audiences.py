"""GET /audiences and POST /audiences: filters saved under a name, per key."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from leadmail.clock import now
from leadmail.db import session_scope
from leadmail.followup.access import Principal
from leadmail.models import Audience
from leadmail.web.api.filters import LeadFilter, filtered
from leadmail.web.api.keys import Keys
from leadmail.web.api.schemas import AUTH, AudienceIn, AudienceOut


def router(engine: Engine, k: Keys) -> APIRouter:
    """GET /audiences, POST /audiences."""
    r = k.router()
    Reader = Annotated[Principal, Depends(k.reader)]

    @r.get("/audiences", responses=AUTH)
    def list_audiences(p: Reader) -> list[AudienceOut]:
        """This key's saved audiences."""
        with Session(engine) as session:
            out = []
            for a in session.exec(select(Audience).where(Audience.owner == p.name)
                                  .order_by(col(Audience.name))).all():
                f = LeadFilter.model_validate(a.filters)
                out.append(AudienceOut(id=a.id or 0, name=a.name, filters=f,
                                       matches=len(filtered(session, p, f))))
            return out

    @r.post("/audiences", status_code=201, responses={
        **AUTH, 409: {"description": "This key has an audience of that name"}})
    def save_audience(body: AudienceIn, p: Reader) -> AudienceOut:
        """Save a filter under a name (per key); GET /leads?audience=NAME uses it."""
        try:
            with session_scope(engine) as session:
                row = Audience(owner=p.name, name=body.name,
                               filters=body.filters.model_dump(mode="json"), created_at=now())
                session.add(row)
                session.flush()
                count = len(filtered(session, p, body.filters))
                return AudienceOut(id=row.id or 0, name=row.name, filters=body.filters,
                                   matches=count)
        except IntegrityError:
            raise HTTPException(409, f"an audience {body.name!r} exists") from None

    return r
