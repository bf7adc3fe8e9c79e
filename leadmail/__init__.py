"""leadmail: turn lead-notification emails into routed, followed-up leads."""

__version__ = "0.1.0"
