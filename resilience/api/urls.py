from django.urls import path

from resilience.api import views

app_name = "api"

urlpatterns = [
    path("errors/", views.ErrorsView.as_view(), name="errors"),
    path("errors/<int:pk>/", views.ErrorDetailView.as_view(), name="error-detail"),
    path("groups/", views.GroupsView.as_view(), name="groups"),
    path("groups/<int:pk>/", views.GroupDetailView.as_view(), name="group-detail"),
    path("groups/<int:pk>/resolve/", views.ResolveGroupView.as_view(), name="group-resolve"),
    path("groups/<int:pk>/reopen/", views.ReopenGroupView.as_view(), name="group-reopen"),
    path("groups/<int:pk>/mute/", views.MuteGroupView.as_view(), name="group-mute"),
]
