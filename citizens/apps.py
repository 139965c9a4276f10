from django.apps import AppConfig


class CitizensConfig(AppConfig):
    name = "citizens"
    default_auto_field = "django.db.models.BigAutoField"
