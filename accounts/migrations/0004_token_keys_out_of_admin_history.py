"""Admin's history named tokens by their whole key (DRF's Token.__str__) before ApiToken:
those entries keep only the prefix admin shows now."""

from django.db import migrations

PREFIX = 8


def forget_keys(apps, schema_editor):
    LogEntry = apps.get_model("admin", "LogEntry")
    ContentType = apps.get_model("contenttypes", "ContentType")
    token_types = ContentType.objects.filter(app_label="authtoken")
    for entry in LogEntry.objects.filter(content_type__in=token_types).only("object_repr"):
        if not entry.object_repr.endswith("…"):
            entry.object_repr = f"{entry.object_repr[:PREFIX]}…"
            entry.save(update_fields=["object_repr"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_apitoken"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forget_keys, migrations.RunPython.noop)]
