"""The in-process guard for code running inside Faultline, its fallback registry, and the
outcomes callers report after a decision."""
