"""Periodic recovery and clean-up procedures with their run history (issue: recovery)."""
