"""The accept step: credentials, budgets, classify-decide-store, the entry writer and the
outage spool. Every way in (native API, Sentry, the in-process guard) ends in service.ingest."""
