"""The daemon's HTTP side: health, readiness, metrics, and the claim/accept/decline links."""
