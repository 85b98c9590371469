"""The groups the data migrations make (dispatchers, readers), for tests that run after a transactional test.

A transactional test ends by flushing every table, data migrations' rows included: a test that needs a group
then makes it again with the migrations' own code, run on the models as they stood at those migrations.
"""

from importlib import import_module
from types import SimpleNamespace

from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.loader import MigrationLoader

# Each group's migration, and the function of it that makes the group.
_MADE_BY = {
    "dispatchers": ("0003_dispatchers_group", "create_dispatchers"),
    "readers": ("0007_read_permissions", "create_readers"),
}


def migrated_group(name: str) -> Group:
    """The group `name` as its migration made it, made again if a flush removed it."""
    group = Group.objects.filter(name=name).first()
    if group is not None:
        return group
    for migration, function in _MADE_BY.values():  # in migration order: readers also add to dispatchers
        state = MigrationLoader(connection).project_state(("couriers", migration))
        make = getattr(import_module(f"couriers.migrations.{migration}"), function)
        make(state.apps, SimpleNamespace(connection=connection))
    return Group.objects.get(name=name)
