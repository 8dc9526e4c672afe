"""Operators' API tokens as DRF authentication: `Authorization: Token <token>`.

It takes the place of DRF's TokenAuthentication (whose tokens sit in the database in
clear) with the same header and the same answers, so automation keeps working."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.services import operator_token_authenticate


class OperatorTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization must be 'Token <token>'.")
        try:
            raw_token = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The token is not valid text.") from None
        token = operator_token_authenticate(raw_token)
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This token's user is inactive.")
        return (token.user, token)

    def authenticate_header(self, request) -> str:
        return self.keyword


class OperatorTokenScheme(OpenApiAuthenticationExtension):
    """Documented under the name DRF's own token scheme had, so the schema is unchanged."""

    target_class = "accounts.authentication.OperatorTokenAuthentication"
    match_subclasses = True  # the API's own subclass counts wrong tokens per address
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An operator's API token: `Token <token>` (made in the admin)",
        }
