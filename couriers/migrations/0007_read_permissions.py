"""Reads need the model's view permission; phone numbers need `view_courier_phone`. The `readers` group holds what
another team's service needs to read (couriers without their phones, deliveries); dispatchers see phones too."""

from django.db import migrations

READERS = "readers"
READER_PERMISSIONS = [("courier", "view_courier"), ("delivery", "view_delivery")]
PHONE = ("courier", "view_courier_phone")


def create_readers(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # On a new database the permissions are made after the last migration (post_migrate): make them now.
    db = schema_editor.connection.alias
    app_config = apps.get_app_config("couriers")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=db)
    Group = apps.get_model("auth", "Group").objects.using(db)
    Permission = apps.get_model("auth", "Permission").objects.using(db)

    def permission(model: str, codename: str):
        return Permission.get(content_type__app_label="couriers", content_type__model=model, codename=codename)

    readers, _ = Group.get_or_create(name=READERS)  # an existing group keeps its members
    readers.permissions.set([permission(*pair) for pair in READER_PERMISSIONS])
    dispatchers = Group.filter(name="dispatchers").first()
    if dispatchers is not None:
        dispatchers.permissions.add(permission(*PHONE))


class Migration(migrations.Migration):
    dependencies = [
        ("couriers", "0006_delivery_disputes"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="courier",
            options={"ordering": ["id"], "permissions": [("view_courier_phone", "Can see couriers' phone numbers")]},
        ),
        migrations.RunPython(create_readers, migrations.RunPython.noop),
    ]
