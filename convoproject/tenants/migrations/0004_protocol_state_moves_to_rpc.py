# IdempotentResponse and RateCounter now belong to the rpc app (its 0001
# takes them over): forgotten here, their tables and rows kept.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_rate_limits"),
        ("rpc", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="IdempotentResponse"),
                migrations.DeleteModel(name="RateCounter"),
            ],
            database_operations=[],
        ),
    ]
