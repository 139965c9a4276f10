"""Operator admin for devices: read-only, with a revoke action that goes through the service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

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
