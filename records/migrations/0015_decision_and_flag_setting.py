# The record's setting kept on each safeguarding decision and confidentiality flag too (issue 14), as on
# records and actions (0014): added empty, filled from the records in one statement each, then required.

from importlib import import_module

from django.db import migrations, models
from django.db.models import OuterRef, Q, Subquery

# The same field as 0014's (a module name starting with a digit is imported by name).
kept_setting = import_module("records.migrations.0014_record_and_action_setting").kept_setting

KEEPERS = ("safeguardingdecision", "confidentialityflag")


def fill_settings(apps, schema_editor):
    Record = apps.get_model("records", "Record")
    setting = Subquery(Record.objects.filter(pk=OuterRef("record_id")).values("setting_id"))
    for name in KEEPERS:
        apps.get_model("records", name).objects.update(setting_id=setting)


class Migration(migrations.Migration):
    dependencies = [("records", "0014_record_and_action_setting")]

    operations = [
        *(migrations.AddField(model_name=m, name="setting", field=kept_setting(null=True)) for m in KEEPERS),
        migrations.RunPython(fill_settings, migrations.RunPython.noop),
        *(migrations.AlterField(model_name=m, name="setting", field=kept_setting(null=False)) for m in KEEPERS),
        migrations.AddIndex(
            model_name="safeguardingdecision",
            index=models.Index(
                condition=Q(confirmed_at__isnull=True), fields=["setting"], name="decision_open_setting_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="confidentialityflag",
            index=models.Index(condition=Q(resolved_at__isnull=True), fields=["setting"], name="flag_open_setting_idx"),
        ),
    ]
