"""Install the reminder schedule for django-celery-beat's database scheduler, once.

Idempotent: a task already present (perhaps changed by an operator) is left as it is, so running the
migration again, or on a database that has the tasks, changes nothing. The sweep runs on the quarter
hour in Europe/London, so the 07:00 sweep is the first of a school day. Each task expires after one
period: when workers were down, one run catches up rather than a queue of stale ones.
"""

from django.db import migrations
from django.utils import timezone

TIME_ZONE = "Europe/London"

# name, task, schedule, expire_seconds, description
TASKS = [
    (
        "supervision: sweep reminders",
        "supervision.sweep_reminders",
        {"crontab": "*/15"},
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


def install_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    added = False
    for name, task, schedule, expire_seconds, description in TASKS:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        if "crontab" in schedule:
            fields = {"minute": schedule["crontab"], "hour": "*", "day_of_week": "*", "day_of_month": "*",
                      "month_of_year": "*", "timezone": TIME_ZONE}  # fmt: skip
            crontab = CrontabSchedule.objects.filter(**fields).first() or CrontabSchedule.objects.create(**fields)
            when = {"crontab": crontab}
        else:
            fields = {"every": schedule["interval"], "period": "minutes"}
            interval = IntervalSchedule.objects.filter(**fields).first() or IntervalSchedule.objects.create(**fields)
            when = {"interval": interval}
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "expire_seconds": expire_seconds, "description": description, **when},
        )
        added = True
    if added:
        # A running beat reloads its schedule when this changes (the model's signals do not run here).
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    deleted, _ = PeriodicTask.objects.filter(name__in=[name for name, *_ in TASKS]).delete()
    if deleted:
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("supervision", "0002_notifications"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install_schedule, remove_schedule)]
