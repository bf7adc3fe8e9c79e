"""Analytics over what follow-up records: engagement, speed-to-lead, sources, forecast.

reports.py computes each report for a principal (lead-origin privacy applies: a report only
ever reads the leads its principal may see); output.py prints them as text, JSON or CSV.
"""
