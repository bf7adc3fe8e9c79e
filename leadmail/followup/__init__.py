"""After routing: Next Steps, stages and deals, activity, and who may see which lead.

    access.py    roles and API keys → the one lead filter every query goes through
    steps.py     Next Steps checklists (Stage × Segment): set on assignment, done → next
    stages.py    stage changes with who/when, team pipelines, deals
    activity.py  notes, calls, agent emails to the lead (seen by intake) → last contact
    links.py     signed "mark done" and page links
    reminders.py reminders and daily agendas through the outbox
"""
