"""Installing periodic tasks in django-celery-beat's database schedule from a data migration.

Idempotent: a task already present (perhaps changed by an operator) is left as it is. A running beat
reloads its schedule when `PeriodicTasks` changes; historical models send no signals, so we touch it.
Each entry: (name, task, schedule, expire_seconds, description), where schedule is
`{"crontab": {"minute": ..., "hour": ...}}` (other fields "*", Europe/London) or `{"interval": minutes}`.
"""

from django.db import migrations
from django.utils import timezone

TIME_ZONE = "Europe/London"
ANY = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}


def install(apps, tasks) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    added = False
    for name, task, schedule, expire_seconds, description in tasks:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        if "crontab" in schedule:
            fields = {**ANY, **schedule["crontab"], "timezone": TIME_ZONE}
            crontab = CrontabSchedule.objects.filter(**fields).order_by("id").first()
            when = {"crontab": crontab or CrontabSchedule.objects.create(**fields)}
        else:
            fields = {"every": schedule["interval"], "period": "minutes"}
            interval = IntervalSchedule.objects.filter(**fields).order_by("id").first()
            when = {"interval": interval or IntervalSchedule.objects.create(**fields)}
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "expire_seconds": expire_seconds, "description": description, **when},
        )
        added = True
    if added:
        _changed(apps)


def remove(apps, tasks) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name__in=[name for name, *_ in tasks]).delete()[0]:
        _changed(apps)


def _changed(apps) -> None:
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedule_operation(tasks) -> migrations.RunPython:
    """The migration operation: install `tasks`; reversed, remove them."""
    return migrations.RunPython(
        lambda apps, schema_editor: install(apps, tasks), lambda apps, schema_editor: remove(apps, tasks)
    )
