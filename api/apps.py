from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import authentication  # noqa: F401  registers the OpenAPI security schemes
        from .middleware import install_log_record_factory

        install_log_record_factory()
