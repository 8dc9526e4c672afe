"""django-csp's middleware with the policy built once per process.

django-csp 4.0 builds the Content-Security-Policy string for every response (0.12 ms of
CPU each here, a tenth of what a whole ingest request is allowed). It is the same string
unless the response changes the policy (csp_update and friends), the page used a nonce,
or DEBUG is on: those still go to django-csp, and everything else gets the string it
would have built.
"""

from functools import cache

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, PolicyParts
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.utils import build_policy
from django.conf import settings

_NO_CHANGES = PolicyParts()


@cache
def _plain_policy(report_only: bool) -> tuple[str, tuple[str, ...]]:
    """The policy with nothing changed, and the path prefixes it is not sent for."""
    name = "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY"
    prefixes = tuple((getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES") or ())
    return build_policy(report_only=report_only), prefixes


def policy_settings_changed(*, setting: str, **kwargs) -> None:
    """setting_changed receiver (tests override the policy)."""
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _plain_policy.cache_clear()


class CSPMiddleware(DjangoCSPMiddleware):
    def process_response(self, request, response):
        if (
            settings.DEBUG
            or self.get_policy_parts(request, response) != _NO_CHANGES
            or self.get_policy_parts(request, response, report_only=True) != _NO_CHANGES
        ):
            return super().process_response(request, response)
        for header, report_only, exempt in ((HEADER, False, "_csp_exempt"),
                                            (HEADER_REPORT_ONLY, True, "_csp_exempt_ro")):
            policy, excluded = _plain_policy(report_only)
            if (
                policy
                and header not in response
                and not getattr(response, exempt, False)
                and not request.path_info.startswith(excluded)
            ):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
