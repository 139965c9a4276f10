from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _grant_runtime_role(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """After every migrate, when the service runs as a role of its own (NEMID_DB_RUNTIME_ROLE), grant
    it its privileges on the tables as they now are (audit.roles)."""
    from django.conf import settings
    from django.db import connections

    from audit.roles import runtime_role_grant

    if settings.NEMID_DB_RUNTIME_ROLE and connections[using].vendor == "postgresql":
        runtime_role_grant(role=settings.NEMID_DB_RUNTIME_ROLE, using=using)


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.events import on_staff_event
        from audit.metrics import audit_seal_metrics
        from nemid_app_backend.metrics import register_collector

        on_staff_event(_audit_staff_event)
        register_collector(audit_seal_metrics)
        post_migrate.connect(_grant_runtime_role, sender=self, dispatch_uid="audit.grant_runtime_role")


def _audit_staff_event(*, action: str, username: str, actor: str, data: dict[str, Any]) -> None:
    from audit.services import audit_append

    audit_append(action=action, object_type="staff", object_id=username, actor=actor, data=data)
