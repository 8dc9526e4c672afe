"""Sentry attachments: kept on disk, one row each, shown on the entry page, removed with
retention (recovery/cleanup.py)."""
