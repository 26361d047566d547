"""The Moderators group: view everything but API keys, hide and unhide
messages; no add, change or delete."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODERATOR_PERMISSIONS = [
    ("tenants", "view_namespace"),
    ("streams", "view_conversation"),
    ("streams", "view_message"),
    ("streams", "moderate_message"),
    ("chats", "view_chat"),
    ("chats", "view_message"),
    ("chats", "moderate_message"),
    ("moderation", "view_moderationevent"),
]


def create_group(apps, schema_editor):
    # Permissions are made after migrations run; make them now, so that a
    # fresh database gets the group complete.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Moderators")
    for app_label, codename in MODERATOR_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Moderators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0001_initial"),
        ("tenants", "0001_initial"),
        ("streams", "0002_moderation"),
        ("chats", "0002_moderation"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
