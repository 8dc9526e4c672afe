"""The campaign lifecycle: campaigns, their timers and lifecycle events (issue: recovery)."""
