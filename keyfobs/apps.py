from django.apps import AppConfig


class KeyfobsConfig(AppConfig):
    name = "keyfobs"
    verbose_name = "key fobs"
    default_auto_field = "django.db.models.BigAutoField"
