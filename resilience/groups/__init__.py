"""Error groups: triage (resolve, reopen, mute, assign; each with a history row) and the reads
of entries, groups and classification rules that the API and admin filter."""
