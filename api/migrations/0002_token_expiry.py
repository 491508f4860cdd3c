"""Tokens minted before tokens expired get the TTL from now (REST_KNOX TOKEN_TTL), so none lives forever."""

from django.db import migrations
from django.utils import timezone


def give_expiry(apps, schema_editor):
    from knox.settings import knox_settings

    if knox_settings.TOKEN_TTL is None:
        return
    AuthToken = apps.get_model("knox", "AuthToken")
    AuthToken.objects.filter(expiry__isnull=True).update(expiry=timezone.now() + knox_settings.TOKEN_TTL)


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]
    operations = [migrations.RunPython(give_expiry, migrations.RunPython.noop)]
