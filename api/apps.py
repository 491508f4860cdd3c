from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from votes.signals import authors_changed, posts_changed

        from . import authentication  # noqa: F401  registers the OpenAPI security schemes
        from .middleware import install_log_record_factory
        from .services import cards_forget, post_cards_forget

        install_log_record_factory()
        authors_changed.connect(cards_forget, dispatch_uid="api.cards_forget")
        posts_changed.connect(post_cards_forget, dispatch_uid="api.post_cards_forget")
