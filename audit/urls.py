from django.urls import path

from audit.apis import AuditCheckpointsApi

urlpatterns = [
    path("audit/checkpoints", AuditCheckpointsApi.as_view(), name="audit-checkpoints"),
]
