"""The database cache's table (CACHE_URL's default, which holds the API's throttle counters): made by
`migrate`, so that a deployment needs no separate createcachetable step. It does nothing for a Redis cache."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("couriers", "0003_dispatchers_group")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
