from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.actors import register_actor_namer
        from devices.registration_limits import registration_breaker_alert
        from devices.selectors import device_actor_name
        from nemid_app_backend.admin_alerts import register_admin_alert

        register_admin_alert(registration_breaker_alert)
        register_actor_namer("device", device_actor_name)
