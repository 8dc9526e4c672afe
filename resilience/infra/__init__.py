"""Plumbing shared by the subpackages: failing open on Redis, datetimes PostgreSQL accepts,
and the query-string check every request passes."""
