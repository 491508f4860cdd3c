from django.apps import AppConfig


class ReputationConfig(AppConfig):
    name = "reputation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from .refit_backend import check_settings

        checks.register(check_settings)
