"""GET /reports/{name}: engagement, speed, sources, forecast (leadmail.analytics.reports)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Engine
from sqlmodel import Session

from leadmail.analytics import reports
from leadmail.clock import now
from leadmail.config import Settings
from leadmail.followup.access import Principal
from leadmail.web.api.keys import Keys
from leadmail.web.api.schemas import AUTH, ReportOut


def router(engine: Engine, settings: Settings, k: Keys) -> APIRouter:
    """GET /reports/{name}."""
    r = k.router()
    Reader = Annotated[Principal, Depends(k.reader)]

    @r.get("/reports/{name}", responses=AUTH)
    def report(name: Literal["engagement", "speed", "sources", "forecast", "campaigns"], p: Reader
               ) -> ReportOut:
        """A report over the leads this key may see."""
        with Session(engine) as session:
            built = reports.build(name, session, settings, p, now())
        return ReportOut.model_validate(built.as_dict())

    return r
