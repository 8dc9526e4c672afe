"""After acceptance: grouping entries, counting them, hourly rollups, the coalesced schedule
that asks for runs, and the quarantine for entries the digest cannot process."""
