# The tables taken over from tenants get the rpc app's names.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("rpc", "0001_initial"),
        ("tenants", "0004_protocol_state_moves_to_rpc"),
    ]

    operations = [
        migrations.AlterModelTable(name="idempotentresponse", table=None),
        migrations.AlterModelTable(name="ratecounter", table=None),
    ]
