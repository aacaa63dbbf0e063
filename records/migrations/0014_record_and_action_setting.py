# The session's setting kept on each record and action (issue 14): added empty, filled from the sessions
# in one statement each, then required.

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Q, Subquery


def fill_settings(apps, schema_editor):
    """Each record's setting from its session, each action's from its record: one UPDATE each, on
    PostgreSQL and SQLite alike."""
    Session = apps.get_model("supervision", "Session")
    Record = apps.get_model("records", "Record")
    Action = apps.get_model("records", "Action")
    Record.objects.update(setting_id=Subquery(Session.objects.filter(pk=OuterRef("session_id")).values("setting_id")))
    Action.objects.update(setting_id=Subquery(Record.objects.filter(pk=OuterRef("record_id")).values("setting_id")))


def kept_setting(*, null: bool) -> models.ForeignKey:
    return models.ForeignKey(
        editable=False, null=null, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.setting"
    )


KEEPERS = ("record", "action")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0016_audit_hex_index_covering"),
        ("records", "0013_section_written"),
        ("supervision", "0001_initial"),
    ]

    operations = [
        *(migrations.AddField(model_name=m, name="setting", field=kept_setting(null=True)) for m in KEEPERS),
        migrations.RunPython(fill_settings, migrations.RunPython.noop),
        *(migrations.AlterField(model_name=m, name="setting", field=kept_setting(null=False)) for m in KEEPERS),
        migrations.AddIndex(
            model_name="record",
            index=models.Index(fields=["setting", "status"], name="record_setting_status_idx"),
        ),
        migrations.AddIndex(
            model_name="action",
            index=models.Index(
                condition=Q(status="open"), fields=["setting", "due_date"], name="action_open_setting_due_idx"
            ),
        ),
    ]
