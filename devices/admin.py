"""Operator admin for devices: read-only, with a revoke action that goes through the service.
The citizen's page gets its devices and the count of active ones from here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from citizens.admin import CitizenAdmin
from citizens.models import Citizen
from devices.models import Device
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


class CitizenWithDevicesAdmin(CitizenAdmin):
    """The citizens app's page, with the citizen's devices (citizens is below devices and cannot show them)."""

    list_display = [*CitizenAdmin.list_display[:4], "active_devices", *CitizenAdmin.list_display[4:]]
    inlines = [DeviceInline, *CitizenAdmin.inlines]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Citizen]:
        return (
            super()
            .get_queryset(request)
            .annotate(active_device_count=Count("devices", filter=Q(devices__status=Device.Status.ACTIVE)))
        )

    @admin.display(description="active devices", ordering="active_device_count")
    def active_devices(self, obj: Citizen) -> int:
        return int(getattr(obj, "active_device_count", 0))


admin.site.unregister(Citizen)
admin.site.register(Citizen, CitizenWithDevicesAdmin)
