"""Install the daily retention sweep in django-celery-beat's database schedule.

Idempotent: a schedule that exists (perhaps changed by an operator) is left as it is.
"""

from django.db import migrations

from config import beat

TASKS = [
    (
        "records: purge expired records",
        "records.purge_expired_records",
        {"crontab": {"minute": "30", "hour": "2"}},
        None,
        "Delete the records of leavers whose retention period has passed; report to the admins.",
    ),
]



class Migration(migrations.Migration):
    dependencies = [
        ("records", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [beat.schedule_operation(TASKS)]
