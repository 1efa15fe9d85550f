"""The "Campaign managers" group, holding campaigns.send_sms."""

from django.db import migrations

GROUP = "Campaign managers"


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate), so make this
    # one here; post_migrate then finds it and leaves it alone.
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="campaigns", model="smsmessage")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="send_sms",
        defaults={"name": "Can send SMS and run campaigns"},
    )
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(permission)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
