"""Writes and side effects, one module per concern (see docs/architecture.md)."""
