"""Install the sweep that queues again the signed PDFs and exports whose file is late (a worker died
mid-job; its message waits in the broker until the visibility timeout), and record which locked
addenda each stored PDF already shows (before this, the one file was redone with every addendum)."""

from django.db import migrations
from django.db.models import Count, Q

from config import beat

TASKS = [
    (
        "records: queue late PDFs and exports again",
        "records.requeue_missing_files",
        {"interval": 5},
        4 * 60,
        "Every 5 minutes: a signed record (or addendum) without its PDF, or an export without its file, a few "
        "minutes after it was due is queued again, once.",
    ),
]


def stored_pdfs_show_their_addenda(apps, schema_editor):
    Record = apps.get_model("records", "Record")
    stored = Record.objects.exclude(pdf_path="").annotate(
        locked=Count("addenda", filter=Q(addenda__locked_at__isnull=False))
    )
    for record in stored.filter(locked__gt=0).only("id"):
        Record.objects.filter(pk=record.pk).update(pdf_addenda=record.locked)


class Migration(migrations.Migration):
    dependencies = [
        ("records", "0009_pdf_and_export_sweep"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(stored_pdfs_show_their_addenda, migrations.RunPython.noop),
        beat.schedule_operation(TASKS),
    ]
