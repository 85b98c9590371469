from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("couriers", "0007_read_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="orderfailure",
            name="events",
            field=models.JSONField(
                default=list, help_text="The events set aside: origin, status, the message itself."
            ),
        ),
        migrations.AddField(
            model_name="orderfailure",
            name="retry_at",
            field=models.DateTimeField(db_index=True, help_text="When a consumer may take it up next.", null=True),
        ),
        migrations.AddField(
            model_name="orderfailure",
            name="given_up_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
