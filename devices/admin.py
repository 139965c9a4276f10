"""Operator admin for devices: read-only, with a revoke action that goes through the service.
The citizen's page gets its devices and the count of active ones from here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from citizens.admin import register_citizen_column, register_citizen_inline
from citizens.models import Citizen
from devices.app_settings import app_settings
from devices.models import Device
from devices.registration_limits import registration_breaker_close, registration_breaker_state, rfc3339_epoch
from devices.services import device_revoke
from nemid_app_backend.admin_pages import ServiceOnlyChangeMixin, admin_actor


@admin.register(Device)
class DeviceAdmin(ServiceOnlyChangeMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "citizen",
        "platform",
        "alg",
        "status",
        "push_provider",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_select_related = ("citizen",)
    list_filter = ("status", "platform", "alg", "push_provider")
    ordering = ("-created_at",)
    search_fields = ("citizen__user_id", "name", "key_thumbprint")
    # The push token is left out: it is a credential of the phone at the push provider.
    fields = (
        "id",
        "citizen",
        "name",
        "platform",
        "status",
        "alg",
        "key_thumbprint",
        "public_jwk",
        "push_provider",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke_devices"]

    @admin.action(description="Revoke (the device can never authenticate again)", permissions=["change"])
    def revoke_devices(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        revoked = 0
        for device in queryset.filter(status=Device.Status.ACTIVE):
            device_revoke(device=device, actor=admin_actor(request), reason="revoked by an operator")
            revoked += 1
        self.message_user(request, f"{revoked} device(s) revoked.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # --- the registration limits and the circuit breaker -----------------------------------------

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "registrations/",
                self.admin_site.admin_view(self.registrations_view),
                name="devices_device_registrations",
            )
        ]
        return own + super().get_urls()

    def registrations_view(self, request: HttpRequest) -> HttpResponse:
        """The state of the registration circuit breaker; an operator with the change permission
        on devices may resume registrations before the cooldown ends (audited)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        can_resume = self.has_change_permission(request)
        if request.method == "POST":
            if not can_resume:
                raise PermissionDenied
            if registration_breaker_close(actor=admin_actor(request)):
                self.message_user(request, "Registrations resumed.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:devices_device_registrations"))
        state = registration_breaker_state()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Device registrations",
            "breaker": state,
            "breaker_until": rfc3339_epoch(float(state["until"])) if state else "",
            "can_resume": can_resume,
            "limits": {
                "per_address": app_settings.REGISTRATION_FAILURES_PER_ADDRESS,
                "per_code": app_settings.REGISTRATION_FAILURES_PER_CODE,
                "per_citizen": app_settings.REGISTRATION_FAILURES_PER_CITIZEN,
                "window": app_settings.REGISTRATION_FAILURE_WINDOW,
                "breaker_failures": app_settings.REGISTRATION_BREAKER_FAILURES,
                "breaker_window": app_settings.REGISTRATION_BREAKER_WINDOW,
                "breaker_cooldown": app_settings.REGISTRATION_BREAKER_COOLDOWN,
            },
        }
        return TemplateResponse(request, "admin/devices/registrations.html", context)


class DeviceInline(admin.TabularInline):
    model = Device
    ordering = ("-created_at",)
    fields = ("link", "name", "platform", "alg", "status", "push_provider", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="device")
    def link(self, obj: Device) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:devices_device_change", args=[obj.pk]), obj.pk)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.display(description="active devices", ordering="active_device_count")
def active_devices(citizen: Citizen) -> int:
    return int(getattr(citizen, "active_device_count", 0))


# The citizen's page shows the citizen's devices; the list counts the active ones.
register_citizen_inline(DeviceInline)
register_citizen_column(active_devices, active_device_count=Count("devices", filter=Q(devices__status=Device.Status.ACTIVE)))
