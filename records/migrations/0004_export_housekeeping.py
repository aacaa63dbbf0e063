"""Install the hourly sweep that deletes the files of expired exports (the ZIPs of signed PDFs and
subject access exports must not outlive their download window)."""

from django.db import migrations

from config import beat

TASKS = [
    (
        "records: delete expired exports",
        "records.delete_expired_exports",
        {"crontab": {"minute": "20"}},
        60 * 60,
        "Hourly: delete the files of exports past their expiry; the job rows stay as history, each deletion audited.",
    ),
]



class Migration(migrations.Migration):
    dependencies = [
        ("records", "0003_oversight"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [beat.schedule_operation(TASKS)]
