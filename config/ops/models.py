from django.db import models


class Reading(models.Model):
    """A figure one process measures and another reports: the worker times a refit, /metrics shows it.

    Prometheus counters live in each process; a reading lives in the database, so the web process can
    report what the worker measured (also on `make run`, where nothing else is shared).
    """

    name = models.CharField(max_length=64, primary_key=True)
    value = models.FloatField()
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}={self.value:g} at {self.at:%Y-%m-%d %H:%M:%S}"

