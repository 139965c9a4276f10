"""Template tags of the operator admin."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from nemid_app_backend.admin_alerts import admin_alerts as registered_alerts

register = template.Library()


@register.simple_tag(takes_context=True)
def admin_alerts(context: template.Context) -> list[str | SafeString]:
    """The alerts registered with nemid_app_backend.admin_alerts, for a signed-in operator only."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_staff", False):
        return []
    return registered_alerts()
