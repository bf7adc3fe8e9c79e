"""Kept for old imports: time lives in `leadmail.clock` (now, aware, must)."""

from __future__ import annotations

from leadmail.clock import aware, must, now

__all__ = ["aware", "must", "now"]
