"""The "Campaign managers" group, holding campaigns.send_sms."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Campaign managers"


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); make sure
    # this app's exist now so the group can hold one.
    app_config = apps.get_app_config("campaigns")
    models_module = app_config.models_module
    app_config.models_module = models_module or True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="campaigns", codename="send_sms")
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
