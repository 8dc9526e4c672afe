"""Sentry user feedback: stored beside its event, shown on the entry and group pages."""
