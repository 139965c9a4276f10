from django.apps import AppConfig


class ThreedsConfig(AppConfig):
    name = "threeds"
    default_auto_field = "django.db.models.BigAutoField"
