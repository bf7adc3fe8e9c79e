"""The daemon's HTTP side: health, readiness, metrics (and, later, claim pages and the API)."""
