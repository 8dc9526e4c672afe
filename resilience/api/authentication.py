"""Service keys as DRF authentication: `Authorization: Bearer <key>`."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.authentication import SessionAuthentication

from accounts import authentication as operator_auth
from accounts.client_ip import client_ip
from resilience.ingest.keys import AuthenticatedKey, authenticate_api_key
from resilience.ingest.rate_limits import (
    budget_clock,
    unauthenticated_attempt,
    unauthenticated_message,
)


def _refused(request, exc: exceptions.APIException) -> exceptions.APIException:
    """A wrong key counts against the sender's address; past its budget the answer is 429."""
    retry_after = unauthenticated_attempt(address=client_ip(request._request),
                                          now=budget_clock())
    if retry_after is None:
        return exc
    return exceptions.Throttled(
        wait=retry_after, detail=unauthenticated_message(str(exc.detail), retry_after)
    )


class ServiceKeyAuthentication(authentication.BaseAuthentication):
    """Sets request.auth to an AuthenticatedKey; request.user stays None (not an operator)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise _refused(request, exceptions.AuthenticationFailed(
                "Authorization must be 'Bearer <service key>'."))
        try:
            raw_key = header[1].decode()
        except UnicodeError:
            raise _refused(request, exceptions.AuthenticationFailed(
                "The service key is not valid text.")) from None
        key = authenticate_api_key(raw_key)
        if key is None:
            raise _refused(request, exceptions.AuthenticationFailed("Unknown service key."))
        if key.revoked:
            raise _refused(request, exceptions.PermissionDenied(
                "This service key has been revoked."))
        return (None, key)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="faultline"'


def bearer_key(request) -> AuthenticatedKey | None:
    """A plain Django request's usable service key, or None for anything else (no
    header, another scheme, a malformed, unknown or revoked key): those are left to
    ServiceKeyAuthentication, which refuses them and counts the refusal."""
    header = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(header) != 2 or header[0].lower() != "bearer":
        return None
    key = authenticate_api_key(header[1])
    return key if key is not None and not key.revoked else None


def service_key_of(request) -> AuthenticatedKey | None:
    return request.auth if isinstance(request.auth, AuthenticatedKey) else None


def scoped_service_id(request) -> int | None:
    """The one service a key reads; None for operators, who read every service."""
    key = service_key_of(request)
    return key.service_id if key else None


class ServiceKeyScheme(OpenApiAuthenticationExtension):
    """Documents service keys in the OpenAPI schema as HTTP bearer auth."""

    target_class = "resilience.api.authentication.ServiceKeyAuthentication"
    name = "serviceKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A service's API key"}


class OperatorTokenAuthentication(operator_auth.OperatorTokenAuthentication):
    """Operators' `Token` header; a wrong token counts against the sender's address, as a
    wrong service key does."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed as exc:
            raise _refused(request, exc) from None


# The views' authentication_classes: services (Bearer keys) and operators, or operators only.
SERVICE_OR_OPERATOR = [ServiceKeyAuthentication, SessionAuthentication,
                       OperatorTokenAuthentication]
OPERATOR_ONLY = [SessionAuthentication, OperatorTokenAuthentication]
