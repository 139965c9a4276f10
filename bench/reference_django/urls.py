from django.urls import path

from bench.reference_django import views

urlpatterns = [
    path("api/v1/approvals", views.create),
    path("api/v1/approvals/<str:approval_id>", views.approval),
    path("api/v1/device/approvals/<str:approval_id>/decision", views.decide),
    path("healthz", views.healthz),
]
