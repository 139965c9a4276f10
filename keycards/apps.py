from django.apps import AppConfig


class KeycardsConfig(AppConfig):
    name = "keycards"
    verbose_name = "key cards"
    default_auto_field = "django.db.models.BigAutoField"
