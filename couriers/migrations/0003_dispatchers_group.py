"""The dispatchers group, with exactly what a dispatcher needs: run the fleet (see, add and change couriers;
pause them, make them available) and dispatch by hand (see deliveries; assign, take off, cancel). Deleting
couriers stays with administrators."""

from django.db import migrations

GROUP = "dispatchers"
PERMISSIONS = [
    ("courier", "view_courier"),
    ("courier", "add_courier"),
    ("courier", "change_courier"),
    ("delivery", "view_delivery"),
    ("delivery", "dispatch_delivery"),
]


def create_dispatchers(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # On a new database the permissions are made after the last migration (post_migrate): make them now.
    db = schema_editor.connection.alias  # migrate --database may name another than the default
    app_config = apps.get_app_config("couriers")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=db)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission").objects.using(db)
    group, _ = Group.objects.using(db).get_or_create(name=GROUP)  # an existing group keeps its members
    wanted = [
        Permission.get(content_type__app_label="couriers", content_type__model=model, codename=codename)
        for model, codename in PERMISSIONS
    ]
    group.permissions.set(wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("couriers", "0002_delivery_dispatch_permission"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_dispatchers, migrations.RunPython.noop)]
