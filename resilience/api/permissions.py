"""Who may do what through the API."""

from rest_framework import permissions

from resilience.api.authentication import service_key_of


class ReportingService(permissions.BasePermission):
    message = "Reporting needs a service key: Authorization: Bearer <key>."

    def has_permission(self, request, view) -> bool:
        return service_key_of(request) is not None


class ServiceOrOperator(permissions.BasePermission):
    """Reads: a service key sees its own service; an operator needs the model's view perm."""

    message = "You may not read these records."

    def has_permission(self, request, view) -> bool:
        if service_key_of(request) is not None:
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(view.view_permission))


class Triager(permissions.BasePermission):
    message = "Triage needs an operator with the 'triage error groups' permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user and user.is_authenticated and user.has_perm("resilience.triage_errorgroup")
        )


class ReportsAndReads:
    """View mixin: POST is a service reporting (service key only); reads are
    ServiceOrOperator (a key sees its own service, an operator needs `view_permission`)."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [ReportingService()]
        return [ServiceOrOperator()]
