from typing import Any

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.events import on_staff_event

        on_staff_event(_audit_staff_event)


def _audit_staff_event(*, action: str, username: str, actor: str, data: dict[str, Any]) -> None:
    from audit.services import audit_append

    audit_append(action=action, object_type="staff", object_id=username, actor=actor, data=data)
