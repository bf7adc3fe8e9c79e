"""The Lead API: /api/v1, authenticated by API keys, lead-origin privacy in every query.

    POST /api/v1/leads                    a lead as JSON → the same pipeline as email
    GET  /api/v1/leads                    list and filter (stage, segment, source, tag, custom
                                          field, agent, origin, status, dates, saved audience)
    GET  /api/v1/leads/{id}               one lead with its steps, activity, stages, deals
    POST /api/v1/leads/{id}/stage         move it to a Stage (Potential may open a deal)
    POST /api/v1/leads/{id}/notes         log a note, call, email, text or meeting
    GET  /api/v1/steps                    open Next Steps
    POST /api/v1/steps/{id}/complete      mark one done; the next is set
    GET  /api/v1/deals, POST /api/v1/deals/{id}/stage
    GET  /api/v1/audiences, POST /api/v1/audiences
    GET  /api/v1/reports/{name}           engagement, speed, sources, forecast
    GET  /api/v1/me                       who the key is

Keys go in `X-API-Key` or `Authorization: Bearer`. A lead the key may not see answers 404,
exactly like a lead that does not exist.

One module per resource, each with its own router:

    keys.py       the API key of a request, checked before the body is read; GET /me
    posting.py    POST /leads
    leads.py      GET /leads, GET /leads/{id}, a lead's stage and notes
    steps.py      GET /steps, completing one
    deals.py      GET /deals, moving one
    audiences.py  saved filters
    reports.py    GET /reports/{name}
    schemas.py    what the routes take and answer (and the rows turned into answers)
    filters.py    LeadFilter: the filters of GET /leads, of an audience and of the pages
"""

from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Engine

from leadmail.config import Settings
from leadmail.web.api import audiences, deals, keys, leads, posting, reports, steps


def router(engine: Engine, settings: Settings, rt_factory: Any = None) -> APIRouter:
    """The /api/v1 routes."""
    k = keys.keys(settings)
    r = APIRouter()
    for part in (keys.router(k), posting.router(engine, settings, k, rt_factory),
                 leads.router(engine, settings, k), steps.router(engine, settings, k),
                 deals.router(engine, settings, k), audiences.router(engine, k),
                 reports.router(engine, settings, k)):
        r.include_router(part)
    return r
