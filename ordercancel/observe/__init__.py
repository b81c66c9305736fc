"""Observability: logs, metrics, Sentry."""
