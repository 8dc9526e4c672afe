from django.urls import path, register_converter

from resilience.api import circuits, dead_letters, entries, groups, metrics

app_name = "api"
register_converter(circuits.OperationConverter, "operation")

urlpatterns = [
    path("errors/", entries.report_errors, name="errors"),
    path("errors/<int:pk>/", entries.ErrorDetailView.as_view(), name="error-detail"),
    path("errors/<int:pk>/outcome/", metrics.OutcomeView.as_view(), name="error-outcome"),
    path("metrics/", metrics.MetricsView.as_view(), name="metrics"),
    path("groups/", groups.GroupsView.as_view(), name="groups"),
    path("groups/<int:pk>/", groups.GroupDetailView.as_view(), name="group-detail"),
    path("groups/<int:pk>/resolve/", groups.ResolveGroupView.as_view(), name="group-resolve"),
    path("groups/<int:pk>/reopen/", groups.ReopenGroupView.as_view(), name="group-reopen"),
    path("groups/<int:pk>/mute/", groups.MuteGroupView.as_view(), name="group-mute"),
    path("circuits/", circuits.CircuitsView.as_view(), name="circuits"),
    path("circuits/<operation:operation>/", circuits.CircuitDetailView.as_view(),
         name="circuit-detail"),
    path("circuits/<operation:operation>/permit/", circuits.PermitView.as_view(),
         name="circuit-permit"),
    path("circuits/<operation:operation>/success/", circuits.SuccessView.as_view(),
         name="circuit-success"),
    path("circuits/<operation:operation>/failure/", circuits.FailureView.as_view(),
         name="circuit-failure"),
    path("dead-letters/", dead_letters.DeadLettersView.as_view(), name="dead-letters"),
    path("dead-letters/replay/", dead_letters.DeadLettersReplayView.as_view(),
         name="dead-letters-replay"),
    path("dead-letters/purge/", dead_letters.DeadLettersPurgeView.as_view(),
         name="dead-letters-purge"),
    path("dead-letters/<int:pk>/", dead_letters.DeadLetterDetailView.as_view(),
         name="dead-letter-detail"),
    path("dead-letters/<int:pk>/replay/", dead_letters.DeadLetterReplayView.as_view(),
         name="dead-letter-replay"),
    path("dead-letters/<int:pk>/edit-and-replay/",
         dead_letters.DeadLetterEditAndReplayView.as_view(), name="dead-letter-edit-and-replay"),
    path("dead-letters/<int:pk>/discard/", dead_letters.DeadLetterDiscardView.as_view(),
         name="dead-letter-discard"),
]
