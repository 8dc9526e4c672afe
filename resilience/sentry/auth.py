"""Who is sending: the DSN's public key, from the places Sentry SDKs put it.

https://develop.sentry.dev/sdk/overview/#authentication — in order of use:
`X-Sentry-Auth: Sentry sentry_version=7, sentry_client=…, sentry_key=<public key>`, the
same fields as query parameters (browser SDKs, to avoid a CORS preflight), and the
envelope header's `dsn`. Two places naming different keys is an error, not a choice.
"""

from urllib.parse import urlsplit

from resilience.ingest.keys import AuthenticatedKey, authenticate_public_key


class SentryAuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_auth_header(value: str) -> dict[str, str]:
    """`Sentry sentry_key=abc, sentry_version=7` → {"sentry_key": "abc", …}."""
    text = value.strip()
    if text[:7].lower() == "sentry ":
        text = text[7:]
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, item = part.strip().partition("=")
        if sep:
            fields[key.strip().lower()] = item.strip().strip('"')
    return fields


def dsn_parts(dsn: str) -> tuple[str, str]:
    """(public key, project id) of a DSN; SentryAuthError when it is not one."""
    try:
        url = urlsplit(dsn)
        public_key = url.username or ""
        project_id = url.path.rstrip("/").rsplit("/", 1)[-1]
    except ValueError:
        public_key, project_id = "", ""
    if not public_key or not project_id:
        raise SentryAuthError(400, "the envelope header's dsn is not a DSN "
                                   "(scheme://public_key@host/project_id)")
    return public_key, project_id


def request_public_key(*, header: str | None, query_key: str | None) -> str | None:
    """The key from X-Sentry-Auth or ?sentry_key= (None when neither is sent)."""
    from_header = None
    if header:
        from_header = parse_auth_header(header).get("sentry_key")
        if not from_header:
            raise SentryAuthError(403, "X-Sentry-Auth has no sentry_key")
    if from_header and query_key and from_header != query_key:
        raise SentryAuthError(400, "conflicting credentials: X-Sentry-Auth and the sentry_key "
                                   "query parameter name different keys")
    return from_header or query_key or None


def resolve_public_key(
    *, request_key: str | None, envelope_dsn: object, project_id: int
) -> str:
    """Combine the request's key with the envelope header's dsn (if any)."""
    dsn_key = None
    if envelope_dsn not in (None, ""):
        if not isinstance(envelope_dsn, str):
            raise SentryAuthError(400, "the envelope header's dsn must be a string")
        dsn_key, dsn_project = dsn_parts(envelope_dsn)
        if dsn_project != str(project_id):
            raise SentryAuthError(400, f"conflicting credentials: the envelope's dsn is for "
                                       f"project {dsn_project}, the URL for project {project_id}")
    if request_key and dsn_key and request_key != dsn_key:
        raise SentryAuthError(400, "conflicting credentials: the request and the envelope "
                                   "header's dsn name different keys")
    key = request_key or dsn_key
    if not key:
        raise SentryAuthError(403, "missing credentials: send X-Sentry-Auth with sentry_key, "
                                   "the sentry_key query parameter, or a dsn in the envelope")
    return key


def authenticate(public_key: str, project_id: int) -> AuthenticatedKey:
    """The key, if it is known, not revoked and belongs to this project (= service id)."""
    key = authenticate_public_key(public_key)
    if key is None:
        raise SentryAuthError(403, "unknown sentry_key: check the DSN")
    if key.revoked:
        raise SentryAuthError(403, "this sentry_key has been revoked")
    if key.service_id != project_id:
        raise SentryAuthError(403, f"this sentry_key does not belong to project {project_id}")
    return key
