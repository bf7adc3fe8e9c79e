"""GET /deals and POST /deals/{id}/stage (along the deal stages of the deal's team)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from leadmail.config import Settings
from leadmail.followup import access, stages
from leadmail.followup.access import Principal
from leadmail.models import Deal
from leadmail.web.api.keys import Keys
from leadmail.web.api.leads import moved
from leadmail.web.api.schemas import AUTH, DealOut, DealStageIn, LeadId, deal_out, invalid


def router(engine: Engine, settings: Settings, k: Keys) -> APIRouter:
    """GET /deals, POST /deals/{id}/stage."""
    r = k.router()
    Reader = Annotated[Principal, Depends(k.reader)]

    @r.get("/deals", responses=AUTH)
    def list_deals(p: Reader, outcome: Literal["open", "won", "lost"] | None = None
                   ) -> list[DealOut]:
        """Deals of the leads this key may see."""
        with Session(engine) as session:
            query = select(Deal).where(col(Deal.lead_id).in_(access.visible_ids(p)))
            if outcome:
                query = query.where(Deal.outcome == outcome)
            return [deal_out(d) for d in session.exec(query.order_by(col(Deal.id))).all()]

    @r.post("/deals/{deal_id}/stage", responses={
        **AUTH, 404: {"description": "No such deal, or not one this key may see"}})
    def move_deal(deal_id: LeadId, body: DealStageIn, p: Reader) -> DealOut:
        """Move a deal to another stage of its team's pipeline (won/lost close it)."""
        result = moved(stages.move_deal, engine, settings, deal_id, body, p, "deal")
        if result.status == "invalid":
            raise invalid("stage", result.detail or "not a stage of this pipeline")
        assert result.deal is not None
        return deal_out(result.deal)

    return r
