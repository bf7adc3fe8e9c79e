"""The agents' and managers' web app: the pipeline board, a lead's page, the agenda, and the
managers' team board, review queue and quarantine.

    GET  /app/pipeline                 cards in columns by stage; drag (SortableJS) or the
                                       card's own form moves one; filters in the query
    GET  /app/leads/{id}               contact, message, source, trace, timeline, actions
    POST /app/leads/{id}/stage         stages.set_stage (the lead's Stage)
    POST /app/deals/{id}/stage         stages.move_deal (a team pipeline's stage; Won/Lost
                                       close the deal, as `leadmail deals move`)
    POST /app/leads/{id}/note          a note, or a call (kind=call), as `leadmail note`
    POST /app/leads/{id}/offer         claim / accept / decline (routing.actions, as the
                                       alert links)
    POST /app/leads/{id}/assign        a manager's assign / reassign (routing.actions.assign)
    POST /app/steps/{id}/done          steps.complete: the next step is set
    GET  /app/agenda                   today's and overdue steps, new leads nobody contacted
    GET  /app/team                     managers: each agent's open leads, untouched ones
                                       highlighted
    GET  /app/review  POST .../fix .../approve      managers: leadmail.review
    GET  /app/quarantine  POST .../retry            admins: the stored message back in line

Every page starts from the viewer (web.session.current_user) and reads leads only through
followup.access, as the API does; a lead the viewer may not see answers 404, like one that
does not exist. Every POST checks its CSRF token (web.session.checked_form).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from leadmail import leadfields, pipeline, review, store
from leadmail.analytics.reports import state_of
from leadmail.clock import aware, must, now
from leadmail.config import LEAD_STAGES, Settings, TeamConfig
from leadmail.followup import access, activity, campaigns, stages, steps
from leadmail.followup.access import Principal
from leadmail.hours import zone
from leadmail.models import Deal, Lead, LeadRoute, Step, display_name
from leadmail.routing import actions
from leadmail.statuses import StepStatus
from leadmail.web.api.filters import LeadFilter, filtered
from leadmail.web.session import Posted, SignedIn, Viewer, state
from leadmail.web.signin import render

OPEN_STAGES = ("Lead", "Potential", "Active")
MAX_CARDS = 200  # cards per column, at most (the rest: "N more", and the filters)


def _when(at: datetime | None) -> str:
    return aware(at).strftime("%Y-%m-%d %H:%M") if at else "—"


def ago(seconds: float) -> str:
    """A duration as the board shows it: 45s, 12m, 3h, 2d."""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def nav(who: Principal) -> list[tuple[str, str]]:
    """The menu: everybody's pages, then the managers', then the administrators'."""
    items = [("/app/pipeline", "Pipeline"), ("/app/agenda", "Agenda"), ("/app/leads", "Leads")]
    if who.role in ("manager", "admin"):
        items += [("/app/team", "Team"), ("/app/review", "Review")]
    if who.role == "admin":
        items += [("/app/quarantine", "Quarantine"), ("/app/sources", "Sources")]
    return [*items, ("/app/engagement", "Reports")]


def team_of_viewer(settings: Settings, who: Principal) -> TeamConfig | None:
    """The viewer's team whose deal pipeline the board shows: only a team whose `stages` are
    set in the config (otherwise the board is of lead Stages)."""
    if who.role == "manager":
        names = list(who.teams)
    elif who.role == "agent":
        names = [t.name for t in settings.teams if who.user in t.agents]
    else:
        names = []
    for team in settings.teams:
        if team.name in names and "stages" in team.model_fields_set:
            return team
    return None


def _back(form: dict[str, str], default: str) -> str:
    """Where a form returns to: a path of the app, never another site."""
    back = form.get("back", "")
    return back if back.startswith("/app/") and not back.startswith("//") else default


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def router() -> APIRouter:
    """The web app's routes (engine and settings come from app.state, see web.session)."""
    r = APIRouter(include_in_schema=False)

    def page(request: Request, me: Viewer, template: str, status: int = 200,
             **context: Any) -> Response:
        response = render(template, status, nav=nav(me.who), here=request.url.path, me=me,
                          flash=request.query_params.get("done"), **context)
        return response

    def not_found(request: Request, me: Viewer) -> Response:
        return page(request, me, "message", 404, title="No such lead",
                    detail="It does not exist, or it is not yours to see.", form=None,
                    links=[("/app/pipeline", "Back to the pipeline")])

    def acting(me: Viewer) -> str:
        return me.who.user or me.who.name

    def manager_only(me: Viewer) -> None:
        if me.who.role not in ("manager", "admin"):
            raise HTTPException(404, "Not Found")

    # -- the board ------------------------------------------------------------------------

    @r.get("/app/pipeline")
    def board(request: Request, me: SignedIn) -> Response:
        st = state(request)
        settings, who = st.settings, me.who
        q = request.query_params
        picked = {k: q.get(k, "")[:200] for k in ("source", "segment", "tag", "agent")}
        stale_only = q.get("stale") == "1"
        f = LeadFilter.model_validate({k: [v] for k, v in picked.items() if v})
        at = now()
        team = team_of_viewer(settings, who)
        with Session(st.engine) as session:
            found = filtered(session, who, f)
            ids = [x.id for x in found if x.id is not None]
            contacts = activity.contact_times(session, ids)
            stale_before = at - timedelta(minutes=settings.followup.stale_after)
            if stale_only:
                found = [x for x in found if state_of(
                    contacts.get(x.id or 0, (None, None))[1], stale_before) != "engaged"
                    and x.stage in OPEN_STAGES]
            nexts: dict[int, Step] = {}
            if ids:
                for s in session.exec(select(Step).where(
                        col(Step.lead_id).in_(ids), Step.status == StepStatus.OPEN)
                        .order_by(col(Step.due_at))).all():
                    nexts.setdefault(s.lead_id, s)
            cards: list[dict[str, Any]] = []
            if team is None:
                columns = list(LEAD_STAGES)
                since = stages.stage_since(session, found)
                for x in found:
                    assert x.id is not None
                    cards.append({"lead": x, "column": x.stage, "since": since[x.id],
                                  "move": f"/app/leads/{x.id}/stage"})
            else:
                columns = [s.name for s in team.stages]
                by_lead = {x.id: x for x in found}
                deals = list(session.exec(select(Deal).where(
                    col(Deal.lead_id).in_(list(by_lead)), Deal.team == team.name)
                    .order_by(col(Deal.id).desc())).all()) if by_lead else []
                since = stages.deal_since(session, deals)
                for d in deals:
                    assert d.id is not None
                    cards.append({"lead": by_lead[d.lead_id], "column": d.stage,
                                  "since": since[d.id], "move": f"/app/deals/{d.id}/stage",
                                  "deal": d})
            options = {name: sorted(v for v in session.exec(
                select(column).where(access.lead_filter(who)).distinct()).all() if v)
                for name, column in (("source", col(Lead.source)), ("segment", col(Lead.segment)),
                                     ("agent", col(Lead.agent)))}
        shown = []
        for c in cards:
            x, step = c["lead"], nexts.get(c["lead"].id)
            shown.append({**c, "name": display_name(x), "in_stage": ago((at - c["since"])
                                                                        .total_seconds()),
                          "next": step.name if step else None,
                          "due": _when(step.due_at) if step else None,
                          "overdue": bool(step and aware(step.due_at) < at)})
        grouped = {name: [c for c in shown if c["column"] == name] for name in columns}
        return page(request, me, "pipeline", title="Pipeline", columns=columns,
                    grouped=grouped, options=options, picked=picked, stale=stale_only,
                    team=team.name if team else None, limit=MAX_CARDS,
                    managers=who.role in ("manager", "admin"),
                    back=str(request.url.path) + (f"?{request.url.query}"
                                                  if request.url.query else ""))

    def stage_answer(request: Request, form: dict[str, str], lead_id: int, changed: Any,
                     stage: str, since: datetime | None) -> Response:
        ok = changed.ok
        if _wants_json(request):
            at = now()
            return JSONResponse(
                {"ok": ok, "status": changed.status, "stage": stage if ok else None,
                 "in_stage": ago((at - since).total_seconds()) if ok and since else None,
                 "detail": changed.detail}, status_code=200 if ok else (
                    404 if changed.status == "not_found" else 409))
        if changed.status == "not_found":
            raise HTTPException(404, "Not Found")
        note = (f"Moved to {stage}" if ok else changed.detail or changed.status)
        return to(_back(form, f"/app/leads/{lead_id}"), note)

    @r.post("/app/leads/{lead_id}/stage")
    def move_lead(request: Request, lead_id: int,
                  checked: Posted) -> Response:
        me, form = checked
        st = state(request)
        stage = form.get("stage", "")
        changed = stages.set_stage(st.engine, st.settings, lead_id, stage, acting(me),
                                   who=me.who)
        since = None
        if changed.ok:
            with Session(st.engine) as session:
                row = session.get(Lead, lead_id)
                since = stages.stage_since(session, [row])[lead_id] if row else None
        return stage_answer(request, form, lead_id, changed, stage, since)

    @r.post("/app/deals/{deal_id}/stage")
    def move_deal(request: Request, deal_id: int,
                  checked: Posted) -> Response:
        me, form = checked
        st = state(request)
        stage = form.get("stage", "")
        changed = stages.move_deal(st.engine, st.settings, deal_id, stage, acting(me),
                                   who=me.who)
        since = None
        lead_id = changed.lead.id if changed.lead and changed.lead.id else 0
        if changed.ok and changed.deal is not None:
            with Session(st.engine) as session:
                deal = session.get(Deal, deal_id)
                since = stages.deal_since(session, [deal])[deal_id] if deal else None
        return stage_answer(request, form, lead_id, changed, stage, since)

    # -- one lead -------------------------------------------------------------------------

    @r.get("/app/leads/{lead_id}")
    def lead_page(request: Request, lead_id: int,
                  me: SignedIn) -> Response:
        st = state(request)
        settings, who = st.settings, me.who
        at = now()
        offers = [o for o in actions.open_offers(st.engine, lead_id)
                  if who.role == "agent" and o.agent == who.user]
        with Session(st.engine) as session:
            row = session.get(Lead, lead_id)
            if row is None:
                return not_found(request, me)
            if not access.can_see(who, row):
                if not offers:  # an agent offered a jump ball sees what its alert showed
                    return not_found(request, me)
                lr = session.get(LeadRoute, lead_id)
                hidden = bool(lr and lr.route.get("hide_contact"))
                return page(request, me, "offer", title="Offered to you", lead=row,
                            name="(shown once you claim it)" if hidden else display_name(row),
                            hidden=hidden, offers=offers)
            mine = session.exec(select(Step).where(Step.lead_id == lead_id)
                                .order_by(col(Step.id))).all()
            last = activity.contact_times(session, [lead_id]).get(lead_id, (None, None))[1]
            periods = [{**p, "since": _when(p["since"]), "until": _when(p["until"]) if p["until"]
                        else None, "for": ago(p["seconds"])}
                       for p in stages.time_in_stage(session, row)]
            timeline = [{**a, "at": _when(a["at"]), "data": {
                k: v for k, v in a["data"].items() if v not in (None, "", [], {})}}
                for a in reversed(activity.timeline(session, lead_id))]
            deals = stages.deals_of(session, lead_id)
            campaign_steps = [{**c, "due": _when(c["due_at"]), "sent": _when(c["sent_at"])
                               if c["sent_at"] else None}
                              for c in campaigns.steps_of(session, lead_id)]
        open_deal = next((d for d in deals if d.outcome == "open"), None)
        next_step = next((s for s in mine if s.status == StepStatus.OPEN), None)
        agents = []
        if who.role == "admin":
            agents = [a.email for a in settings.agents]
        elif who.role == "manager":
            agents = sorted(who.team_agents)
        return page(request, me, "lead", title=display_name(row), lead=row,
                    name=display_name(row), last_contact=_when(last) if last else None,
                    steps=mine, next_step=next_step, due=_when(next_step.due_at)
                    if next_step else None, overdue=bool(next_step and aware(
                        next_step.due_at) < at),
                    periods=periods, timeline=timeline, stages=LEAD_STAGES, deals=deals,
                    open_deal=open_deal, deal_stages=[s.name for s in stages.deal_stages_of(
                        settings, open_deal.team)] if open_deal else [],
                    offers=offers, agents=agents, can_step=who.role in ("agent", "admin"),
                    sms=(row.phone or "").replace(" ", ""), campaign_steps=campaign_steps)

    def visible(request: Request, me: Viewer, lead_id: int) -> Lead:
        with Session(state(request).engine) as session:
            row = session.get(Lead, lead_id)
        if row is None or not access.can_see(me.who, row):
            raise HTTPException(404, "Not Found")
        return row

    @r.post("/app/leads/{lead_id}/note")
    def note(request: Request, lead_id: int, checked: Posted
             ) -> Response:
        me, form = checked
        visible(request, me, lead_id)
        kind = form.get("kind", "note")
        if kind not in activity.LOGGED:
            raise HTTPException(400, f"kind: one of {', '.join(activity.LOGGED)}")
        text = form.get("text", "").strip()
        if kind == "note" and not text:
            return to(f"/app/leads/{lead_id}", "A note needs text")
        activity.add(state(request).engine, lead_id, kind, acting(me), text or kind)
        return to(f"/app/leads/{lead_id}",
            "Note added" if kind == "note" else f"{kind.capitalize()} logged")

    @r.post("/app/leads/{lead_id}/offer")
    def offer(request: Request, lead_id: int, checked: Posted
              ) -> Response:
        me, form = checked
        st = state(request)
        what = form.get("action", "")
        if me.who.role != "agent" or not me.who.user or what not in actions.ACTIONS:
            raise HTTPException(404, "Not Found")
        result = actions.act(st.engine, st.settings, lead_id, me.who.user, what)
        return to(f"/app/leads/{lead_id}", result.message)

    @r.post("/app/leads/{lead_id}/assign")
    def assign(request: Request, lead_id: int, checked: Posted
               ) -> Response:
        me, form = checked
        manager_only(me)
        visible(request, me, lead_id)
        st = state(request)
        target = form.get("agent", "").strip().lower()
        if me.who.role == "manager" and target not in me.who.team_agents:
            raise HTTPException(400, "agent: not one of your teams' agents")
        by = None if me.who.role == "admin" else me.who.user
        result = actions.assign(st.engine, st.settings, lead_id, target, by=by)
        back = _back(form, f"/app/leads/{lead_id}")
        return to(back, result.message)

    @r.post("/app/steps/{step_id}/done")
    def step_done(request: Request, step_id: int, checked: Posted
                  ) -> Response:
        me, form = checked
        st = state(request)
        done = steps.complete(st.engine, st.settings, step_id, acting(me), via="page",
                              who=me.who, note=form.get("note") or None)
        if done.status == "not_found":
            raise HTTPException(404, "Not Found")
        if done.ok and done.step is not None:
            nxt = done.next
            message = f"Done: {done.step.name}." + (
                f" Next: {nxt.name}, due {_when(nxt.due_at)}." if nxt else " No more steps.")
        else:
            message = f"Not done: {done.status.replace('_', ' ')}"
        if request.headers.get("hx-request"):
            return render("step_done", message=message, ok=done.ok)
        lead_id = done.step.lead_id if done.step else 0
        return to(_back(form, f"/app/leads/{lead_id}"), message)

    # -- agenda ---------------------------------------------------------------------------

    @r.get("/app/agenda")
    def agenda(request: Request, me: SignedIn) -> Response:
        st = state(request)
        who = me.who
        at = now()
        agent = st.settings.find_agent(who.user or "") if who.user else None
        local = at.astimezone(zone(agent.timezone if agent else st.settings.routing.timezone))
        day_end = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        with Session(st.engine) as session:
            due = steps.open_steps(session, who, agent=who.user if who.role == "agent" else None,
                                   due_before=day_end)
            fresh = session.exec(access.leads(who).where(col(Lead.stage).in_(OPEN_STAGES))
                                 .order_by(col(Lead.id).desc()).limit(500)).all()
            contacted = activity.contact_times(session, [x.id for x in fresh if x.id])
        items = [{"step": s, "lead": x, "name": display_name(x), "due": _when(s.due_at),
                  "overdue": aware(s.due_at) < at} for s, x in due[:MAX_CARDS]]
        untouched = [{"lead": x, "name": display_name(x), "age": ago(
            (at - must(x.created_at)).total_seconds())}
            for x in fresh if x.id not in contacted][:50]
        return page(request, me, "agenda", title="Agenda", items=items, untouched=untouched,
                    overdue=sum(1 for i in items if i["overdue"]),
                    can_step=who.role in ("agent", "admin"))

    # -- managers -------------------------------------------------------------------------

    @r.get("/app/team")
    def team(request: Request, me: SignedIn) -> Response:
        manager_only(me)
        st = state(request)
        settings, who = st.settings, me.who
        try:
            minutes = max(0, min(int(request.query_params.get("minutes") or
                                     settings.followup.untouched_after), 525_600))
        except ValueError:
            minutes = settings.followup.untouched_after
        at = now()
        with Session(st.engine) as session:
            leads = session.exec(access.leads(who).where(col(Lead.stage).in_(OPEN_STAGES))
                                 .order_by(col(Lead.id).desc()).limit(2000)).all()
            contacted = activity.contact_times(session, [x.id for x in leads if x.id])
        names = sorted(who.team_agents) if who.role == "manager" else [
            a.email for a in settings.agents]
        rows = []
        for email in names:
            theirs = []
            for x in leads:
                if x.agent != email:
                    continue
                age = (at - must(x.created_at)).total_seconds()
                cold = x.id not in contacted and age > minutes * 60
                theirs.append({"lead": x, "name": display_name(x), "age": ago(age),
                               "cold": cold})
            agent = settings.find_agent(email)
            rows.append({"email": email, "name": agent.name if agent else email,
                         "leads": theirs, "cold": sum(1 for t in theirs if t["cold"])})
        unassigned = [{"lead": x, "name": display_name(x)} for x in leads if not x.agent]
        return page(request, me, "team", title="Team", rows=rows, minutes=minutes,
                    unassigned=unassigned)

    @r.get("/app/review")
    def review_queue(request: Request, me: SignedIn) -> Response:
        manager_only(me)
        st = state(request)
        waiting = [x for x in review.pending(st.engine) if access.can_see(me.who, x)]
        return page(request, me, "review", title="Review", waiting=[
            {"lead": x, "name": display_name(x),
             "fields": [(n, getattr_str(x, n)) for n in review.FIXABLE]} for x in waiting[:100]])

    def in_review(request: Request, me: Viewer, lead_id: int) -> Lead:
        manager_only(me)
        row = visible(request, me, lead_id)
        if row.status != "review":
            raise HTTPException(409, "this lead is not in review")
        return row

    @r.post("/app/review/{lead_id}/fix")
    def review_fix(request: Request, lead_id: int, checked: Posted
                   ) -> Response:
        me, form = checked
        row = in_review(request, me, lead_id)
        st = state(request)
        values = {n: form[n].strip() for n in review.FIXABLE
                  if n in form and form[n].strip() != getattr_str(row, n)}
        try:
            review.fix(st.engine, st.settings, lead_id, values)
        except ValueError as exc:
            return to("/app/review", f"#{lead_id}: {exc}")
        return to("/app/review", f"#{lead_id} fixed")

    @r.post("/app/review/{lead_id}/approve")
    def review_approve(request: Request, lead_id: int,
                       checked: Posted) -> Response:
        me, _ = checked
        in_review(request, me, lead_id)
        st = state(request)
        try:
            lead = review.approve(st.engine, st.settings, lead_id)
        except ValueError as exc:
            return to("/app/review", f"#{lead_id}: {exc}")
        return to("/app/review",
            f"#{lead_id} approved: {lead.agent or 'unassigned'}")

    @r.get("/app/quarantine")
    def quarantine(request: Request, me: SignedIn) -> Response:
        if me.who.role != "admin":
            raise HTTPException(404, "Not Found")
        held = store.quarantined(state(request).engine)[:200]
        return page(request, me, "quarantine", title="Quarantine", held=[
            {"id": m.id, "at": _when(m.received_at), "reason": m.reason or "—",
             "sender": m.mail_from} for m in held])

    @r.post("/app/quarantine/{msg_id}/retry")
    def retry(request: Request, msg_id: int, checked: Posted
              ) -> Response:
        me, _ = checked
        if me.who.role != "admin":
            raise HTTPException(404, "Not Found")
        again = pipeline.requeue(state(request).engine, msg_id)
        return to("/app/quarantine",
            f"Message #{msg_id} is back in line" if again else
            f"Message #{msg_id} is not quarantined")

    return r


def getattr_str(lead: Lead, name: str) -> str:
    """A lead field's value as a form shows it."""
    value = getattr(lead, leadfields.attr(name), None)
    return "" if value is None else str(value)


def to(path: str, note: str) -> RedirectResponse:
    """303 to `path` with a one-line note for the page to show."""
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}done={quote(note[:300])}", status_code=303)
