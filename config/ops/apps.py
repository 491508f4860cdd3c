from django.apps import AppConfig


class OpsConfig(AppConfig):
    """What the operator sees: health checks, metrics, logs that carry request ids into tasks."""

    name = "config.ops"
    label = "ops"  # the app (and its migrations) kept its label when it moved under config/
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from . import celery_signals, metrics

        metrics.register_collector()
        celery_signals.connect()
        user_locked_out.connect(metrics.count_lockout, dispatch_uid="ops.count_lockout")
