"""What we know of an order moves out of its delivery into a row of its own (OrderKnowledge).

Each delivery's last reading and announced end become its order's knowledge; the deliveries made only to
remember service-order's 404 (cancelled, no courier, no event: order_status "not_found") are deleted, their
404 kept as knowledge. The delivery's order_id then refers to its knowledge row.
"""

import django.db.models.deletion
from django.db import migrations, models

NOT_FOUND = "not_found"


def knowledge_from_deliveries(apps, schema_editor) -> None:
    database = schema_editor.connection.alias  # the database being migrated, not always the default
    deliveries = apps.get_model("couriers", "Delivery").objects.using(database)
    knowledge = apps.get_model("couriers", "OrderKnowledge").objects.using(database)
    OrderKnowledge = knowledge.model
    rows = deliveries.values_list(
        "order_id", "order_status", "order_checked_at", "end_announced", "end_announced_at"
    ).iterator(chunk_size=2000)
    batch = []
    for order_id, status, checked_at, end, end_at in rows:
        batch.append(
            OrderKnowledge(
                order_id=order_id, read_status=status, read_at=checked_at, end_announced=end, end_announced_at=end_at
            )
        )
        if len(batch) == 2000:
            knowledge.bulk_create(batch)
            batch = []
    knowledge.bulk_create(batch)
    deliveries.filter(order_status=NOT_FOUND, version=0, courier__isnull=True).delete()


def deliveries_from_knowledge(apps, schema_editor) -> None:
    database = schema_editor.connection.alias
    deliveries = apps.get_model("couriers", "Delivery").objects.using(database)
    knowledge = apps.get_model("couriers", "OrderKnowledge").objects.using(database)
    for known in knowledge.filter(order_id__in=deliveries.values("order_id")).iterator():
        deliveries.filter(order_id=known.order_id).update(
            order_status=known.read_status,
            order_checked_at=known.read_at,
            end_announced=known.end_announced,
            end_announced_at=known.end_announced_at,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("couriers", "0009_outbox"),
    ]

    operations = [
        migrations.CreateModel(
            name="OrderKnowledge",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("order_id", models.CharField(max_length=255, unique=True)),
                (
                    "read_status",
                    models.CharField(
                        help_text="service-order's latest answer: the order's status, or not_found.", max_length=32
                    ),
                ),
                (
                    "read_at",
                    models.DateTimeField(
                        help_text="When we asked for that answer: an older answer never replaces it."
                    ),
                ),
                (
                    "end_announced",
                    models.CharField(
                        blank=True,
                        help_text="An end an event announced while service-order read the order active.",
                        max_length=32,
                    ),
                ),
                (
                    "end_announced_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When we first saw that event: the dispute's grace counts from here.",
                        null=True,
                    ),
                ),
                (
                    "verdict",
                    models.CharField(
                        blank=True,
                        choices=[("accepted", "Accepted"), ("rejected", "Rejected")],
                        help_text="A dispatcher's decision on the announced end.",
                        max_length=16,
                    ),
                ),
                (
                    "verdict_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="Only an end event produced after this reopens a rejected dispute.",
                        null=True,
                    ),
                ),
                (
                    "swept_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When the reconcile sweep last took the order up (checked or tried).",
                        null=True,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name_plural": "order knowledge",
                "indexes": [
                    models.Index(
                        condition=models.Q(("end_announced", ""), _negated=True),
                        fields=["end_announced_at"],
                        name="order_disputes",
                    )
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("end_announced", ""), ("end_announced_at__isnull", False), _connector="OR"),
                        name="order_end_announced_has_time",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("verdict", ""), ("verdict_at__isnull", False), _connector="OR"),
                        name="order_verdict_has_time",
                    ),
                ],
            },
        ),
        migrations.RunPython(knowledge_from_deliveries, deliveries_from_knowledge),
        migrations.RemoveIndex(model_name="delivery", name="couriers_de_status_d471be_idx"),
        migrations.RemoveIndex(model_name="delivery", name="couriers_de_status_0e8ccd_idx"),
        migrations.RemoveConstraint(model_name="delivery", name="delivery_end_announced_has_time"),
        migrations.RemoveField(model_name="delivery", name="order_status"),
        migrations.RemoveField(model_name="delivery", name="order_checked_at"),
        migrations.RemoveField(model_name="delivery", name="end_announced"),
        migrations.RemoveField(model_name="delivery", name="end_announced_at"),
        migrations.RenameField(model_name="delivery", old_name="order_id", new_name="order"),
        migrations.AlterField(
            model_name="delivery",
            name="order",
            field=models.OneToOneField(
                db_column="order_id",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="delivery",
                to="couriers.orderknowledge",
                to_field="order_id",
            ),
        ),
    ]
