"""Sentry SDK compatibility: the envelope and store endpoints, and the event mapping.

Existing services keep their Sentry SDK and point its DSN at Faultline; every event then
goes through the same ingest() as the native API (source="sentry"). See docs/api.md.
"""
