"""Informal notes about one person never reach a group (DESIGN.md section 6).

Before this, starting a group session's record marked the members' significant informal notes as
revisited in it. Those notes were never revisited in private: they are released, so the next 1:1 of
the person they are about picks them up, as seed 001 asks. Running it again changes nothing.
"""

from django.db import migrations


def release_notes_from_groups(apps, schema_editor):
    InformalNote = apps.get_model("supervision", "InformalNote")
    InformalNote.objects.filter(revisited_in__kind="group").update(revisited_in=None)


class Migration(migrations.Migration):
    dependencies = [("supervision", "0003_install_schedule")]

    operations = [migrations.RunPython(release_notes_from_groups, migrations.RunPython.noop)]
