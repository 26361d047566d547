# IdempotentResponse and RateCounter move here from tenants (protocol state,
# not tenants'): the models are taken over as they are, tables and rows kept
# (tenants 0004 lets go of them); 0002 renames the tables.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tenants", "0003_rate_limits"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IdempotentResponse",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("key", models.CharField(max_length=255)),
                        (
                            "method",
                            models.CharField(
                                help_text="The RPC path, e.g. /protobuf/Streams/CreateConversation.", max_length=255
                            ),
                        ),
                        (
                            "body_hash",
                            models.CharField(
                                help_text="SHA-256 of the canonical JSON of the request body.", max_length=64
                            ),
                        ),
                        (
                            "response",
                            models.TextField(
                                blank=True, help_text="The JSON of the 200 answer; empty while it is being made."
                            ),
                        ),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        (
                            "namespace",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="tenants.namespace",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "tenants_idempotentresponse",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("namespace", "key"), name="unique_idempotency_key_per_namespace"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="RateCounter",
                    fields=[
                        ("bucket", models.CharField(max_length=64, primary_key=True, serialize=False)),
                        ("minute", models.BigIntegerField(help_text="The minute counted: Unix time // 60.")),
                        ("count", models.PositiveIntegerField()),
                    ],
                    options={"db_table": "tenants_ratecounter"},
                ),
            ],
            database_operations=[],
        ),
    ]
