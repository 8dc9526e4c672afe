"""Service keys as DRF authentication: `Authorization: Bearer <key>`."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from resilience.services.keys import AuthenticatedKey, authenticate_api_key


class ServiceKeyAuthentication(authentication.BaseAuthentication):
    """Sets request.auth to an AuthenticatedKey; request.user stays None (not an operator)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization must be 'Bearer <service key>'.")
        try:
            raw_key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The service key is not valid text.") from None
        key = authenticate_api_key(raw_key)
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown service key.")
        if key.revoked:
            raise exceptions.PermissionDenied("This service key has been revoked.")
        return (None, key)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="faultline"'


def service_key_of(request) -> AuthenticatedKey | None:
    return request.auth if isinstance(request.auth, AuthenticatedKey) else None


class ServiceKeyScheme(OpenApiAuthenticationExtension):
    """Documents service keys in the OpenAPI schema as HTTP bearer auth."""

    target_class = "resilience.api.authentication.ServiceKeyAuthentication"
    name = "serviceKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A service's API key"}
