"""The report actions in the moderation log, and the review queue for the
Moderators group: they see reports and reported messages (resolving them
needs `moderate_message`, which the group has)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

QUEUE_PERMISSIONS = [
    ("streams", "view_report"),
    ("streams", "view_reportedmessage"),
    ("chats", "view_report"),
    ("chats", "view_reportedmessage"),
]


def grant(apps, schema_editor):
    # Permissions are made after migrations run; make them now (as 0002 does).
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    group = apps.get_model("auth", "Group").objects.filter(name="Moderators").first()
    if group is not None:
        for app_label, codename in QUEUE_PERMISSIONS:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    group = apps.get_model("auth", "Group").objects.filter(name="Moderators").first()
    if group is not None:
        for app_label, codename in QUEUE_PERMISSIONS:
            group.permissions.remove(*Permission.objects.filter(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0002_moderators_group"),
        ("streams", "0003_reports"),
        ("chats", "0003_reports"),
    ]

    operations = [
        migrations.AlterField(
            model_name="moderationevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("hide", "Hide messages"),
                    ("unhide", "Unhide messages"),
                    ("delete", "Delete messages"),
                    ("hide_author", "Hide an author's messages"),
                    ("delete_author", "Delete an author's messages"),
                    ("delete_conversation", "Delete a conversation"),
                    ("delete_chat", "Delete a chat"),
                    ("revoke_key", "Revoke an API key"),
                    ("auto_hide", "Hide a reported message automatically"),
                    ("confirm_reports", "Confirm reports"),
                    ("dismiss_reports", "Dismiss reports"),
                ],
                max_length=32,
            ),
        ),
        migrations.RunPython(grant, revoke),
    ]
