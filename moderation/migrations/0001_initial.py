import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("member_add", "added a member"),
                            ("member_approve", "approved a join request"),
                            ("member_reject", "rejected a join request"),
                            ("member_remove", "removed a member"),
                            ("member_ban", "banned a user"),
                            ("member_role", "changed a member's role"),
                            ("message_delete", "deleted a message"),
                            ("board_lock", "locked a board"),
                            ("board_unlock", "unlocked a board"),
                            ("user_deactivate", "deactivated a user"),
                            ("token_revoke", "revoked an API token"),
                        ],
                        max_length=32,
                    ),
                ),
                (
                    "right",
                    models.CharField(
                        choices=[
                            ("conversation_admin", "conversation admin"),
                            ("site_moderator", "site moderator"),
                        ],
                        max_length=32,
                    ),
                ),
                ("conversation_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                ("message_id", models.BigIntegerField(blank=True, null=True)),
                ("board_id", models.BigIntegerField(blank=True, null=True)),
                ("detail", models.CharField(blank=True, default="", max_length=200)),
                (
                    "actor",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "target_user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "audit entries",
                "ordering": ["-created_at", "-id"],
            },
        ),
    ]
