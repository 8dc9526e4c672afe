"""Alert channels, rules, throttling and delivery (issue: alerts)."""
