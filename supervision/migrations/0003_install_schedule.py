"""Install the reminder schedule for django-celery-beat's database scheduler, once.

Idempotent: a task already present (perhaps changed by an operator) is left as it is, so running the
migration again, or on a database that has the tasks, changes nothing. The sweep runs on the quarter
hour in Europe/London, so the 07:00 sweep is the first of a school day. Each task expires after one
period: when workers were down, one run catches up rather than a queue of stale ones.
"""

from django.db import migrations

from config import beat

# name, task, schedule, expire_seconds, description
TASKS = [
    (
        "supervision: sweep reminders",
        "supervision.sweep_reminders",
        {"crontab": {"minute": "*/15"}},
        15 * 60,
        "Every 15 minutes: record the reminders and escalations due now (DESIGN section 7) and queue their emails.",
    ),
    (
        "supervision: relay outbox",
        "supervision.relay_outbox",
        {"interval": 5},
        5 * 60,
        "Every 5 minutes: hand over outbox emails not delivered a minute after they were written.",
    ),
    (
        "supervision: requeue undelivered",
        "supervision.requeue_undelivered",
        {"interval": 10},
        10 * 60,
        "Every 10 minutes: queue delivery again for notifications whose task was lost.",
    ),
]



class Migration(migrations.Migration):
    dependencies = [
        ("supervision", "0002_notifications"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [beat.schedule_operation(TASKS)]
