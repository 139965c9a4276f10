from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from devices.registration_limits import registration_breaker_alert
        from nemid_app_backend.admin_alerts import register_admin_alert

        register_admin_alert(registration_breaker_alert)
