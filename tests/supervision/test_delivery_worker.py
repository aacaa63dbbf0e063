"""Real workers on Redis and PostgreSQL: a sweep of 500 reminders survives a worker killed with SIGKILL
halfway, and two beat processes running at once send nothing twice.

The due reminders are safeguarding decisions not confirmed 48 hours after signing: they are urgent,
so the sweep sends them whatever the hour and the day the test runs (the workers keep real time).
Emails go to Django's file backend, one folder per test, so every message handed over is counted.
Each test has a queue of its own and the workers see the test database: pytest's SQLite database
lives inside the test process, hence PostgreSQL only.
"""

import importlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.models import StaffMember, User
from config import beat
from config.celery import app
from records.builtin import ensure_builtin_templates
from records.models import Record, RecordStatus, SafeguardingDecision
from supervision.models import Notification, NotificationKind, OutboxEmail, Session, SessionStatus, SupervisionGroup
from supervision.tasks import relay_outbox, requeue_undelivered, sweep_reminders

# Every test with real worker processes that see the test database through Redis (this file's, the PDF
# worker's, the worker connections'): run alone, before the parallel run (bin/test).
REAL_WORKERS = [
    pytest.mark.redis,
    pytest.mark.serial,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs REDIS_URL and PostgreSQL (.ci/run sets both)",
    ),
]
pytestmark = REAL_WORKERS

N = 500
TIMEOUT = 120
SEPARATOR = b"\n" + b"-" * 79 + b"\n"  # after each message in Django's file backend


@pytest.fixture
def not_eager():
    # tests/conftest.py makes tasks run in the test process; these go through Redis to the workers.
    app.conf.task_always_eager = False


def due_decisions(cast, n: int) -> list[SafeguardingDecision]:
    """n signed records, each with a safeguarding decision for a different key person, signed three days
    ago: n reminders due now (the escalation is due after four). Bulk-created: a few seconds for 500."""
    organisation = cast.organisation
    version = ensure_builtin_templates(organisation)["group"].current_version()
    group = SupervisionGroup.objects.create(
        organisation=organisation, setting=cast.primary, name="Reflective practice", supervisor=cast.supervisor,
        confidentiality_boundaries="What is said here stays here, except safeguarding.",
    )  # fmt: skip
    now = timezone.now()
    tag = uuid.uuid4().hex[:6]
    users = User.objects.bulk_create(
        User(email=f"key{i}-{tag}@worker.example", full_name=f"Key Person {i:03d}", password="!") for i in range(n)
    )
    people = StaffMember.objects.bulk_create(
        StaffMember(organisation=organisation, user=user, start_date=now.date() - timedelta(days=400)) for user in users
    )
    sessions = Session.objects.bulk_create(
        Session(
            organisation=organisation, setting=cast.primary, kind="group", group=group, supervisor=cast.supervisor,
            starts_at=now - timedelta(days=4, minutes=30 * i), ends_at=now - timedelta(days=4, minutes=30 * i - 30),
            status=SessionStatus.HELD,
        )
        for i in range(n)
    )  # fmt: skip
    records = Record.objects.bulk_create(
        Record(
            organisation=organisation, session=session, template_version=version, supervisor=cast.supervisor,
            status=RecordStatus.SIGNED, submitted_at=now - timedelta(days=3, hours=1),
            locked_at=now - timedelta(days=3), content_hash="0" * 64,
        )
        for session in sessions
    )  # fmt: skip
    return SafeguardingDecision.objects.bulk_create(
        SafeguardingDecision(
            organisation=organisation, record=record, child_reference=f"CP-{i:04d}", decision="Refer to early help",
            key_person=person,
        )
        for i, (record, person) in enumerate(zip(records, people, strict=True))
    )  # fmt: skip


def worker_environment(tmp_path: Path, queue: str) -> dict[str, str]:
    """The test database, a queue of the test's own, a short visibility timeout, emails to files."""
    db = settings.DATABASES["default"]
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
    (tmp_path / "mail").mkdir(exist_ok=True)
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{quote(db['USER'], safe='')}{password}@{host}/{db['NAME']}",
        "CELERY_QUEUE": queue,
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "EMAIL_URL": f"file://{tmp_path / 'mail'}",
        "LOG_LEVEL": "INFO",
    }


@contextmanager
def celery(arguments: list[str], env: dict[str, str], log: Path, command: tuple[str, ...] = ("-m", "celery")):
    """A celery process in a session of its own, so a kill reaches its whole process group. ``command``
    is what Python runs: Celery itself, or a script that takes Celery's arguments."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, *command, "-A", "config", *arguments],
            cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def worker(name: str, concurrency: int = 1) -> list[str]:
    pool = ["--pool=solo"] if concurrency == 1 else ["--pool=prefork", f"--concurrency={concurrency}"]
    return [
        "worker", *pool, "--loglevel=INFO", f"--hostname={name}-{uuid.uuid4().hex[:6]}@%h",
        "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip


def wait_for(condition, processes, logs, timeout=TIMEOUT, every=0.02, what="the workers"):
    deadline = time.monotonic() + timeout
    while not condition():
        for process, log in zip(processes, logs, strict=True):
            if process.poll() is not None:
                pytest.fail(f"A celery process exited with {process.returncode}:\n{log.read_text()[-5000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"Waited {timeout} s for {what}:\n" + "\n".join(log.read_text()[-3000:] for log in logs))
        time.sleep(every)


def emails_written(folder: Path) -> list[str]:
    """The Message-ID of every complete message the file backend wrote (a message cut off by a kill has
    no separator after it: it was never handed over)."""
    ids = []
    for path in sorted(folder.iterdir()):
        for chunk in path.read_bytes().split(SEPARATOR)[:-1]:
            ids.append(message_from_bytes(chunk)["Message-ID"])
    return ids


def sweeps_sent(beat_logs: list[Path]) -> list[int]:
    return [log.read_text().count("Sending due task supervision: sweep reminders") for log in beat_logs]


def expected_ids(kind) -> set[str]:
    domain = urlsplit(settings.SITE_URL).hostname
    return {f"<{code}@{domain}>" for code in Notification.objects.filter(kind=kind).values_list("code", flat=True)}


def test_a_worker_killed_mid_sweep_sends_every_reminder_once_into_the_outbox(
    transactional_db, cast, tmp_path, not_eager
):
    due_decisions(cast, N)
    queue = f"reminders-{uuid.uuid4().hex[:8]}"
    env = worker_environment(tmp_path, queue)
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    started = time.monotonic()
    with celery(worker("first"), env, logs[0]) as first:
        sweep_reminders.apply_async(queue=queue)
        wait_for(lambda: OutboxEmail.objects.count() >= N // 5, [first], logs[:1], what="a fifth of the emails")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    killed_after = time.monotonic() - started
    at_kill = {
        "notifications": Notification.objects.count(),
        "outbox": OutboxEmail.objects.count(),
        "delivered": OutboxEmail.objects.filter(delivered_at__isnull=False).count(),
        "emails": len(emails_written(tmp_path / "mail")),
    }
    assert at_kill["notifications"] == N, "the sweep commits its 500 notifications in one transaction"
    assert at_kill["outbox"] < N, f"the worker finished before it was killed: {at_kill}"

    def all_delivered():
        return OutboxEmail.objects.count() == N and not OutboxEmail.objects.filter(delivered_at__isnull=True).exists()

    # The second worker is not killed: four processes finish sooner.
    with celery(worker("second", concurrency=4), env, logs[1]) as second:
        restarted = time.monotonic()
        # Beat's work, sooner than beat: a sweep, the relay and the requeue every 10 seconds.
        last_round = 0.0
        deadline = restarted + TIMEOUT
        while not all_delivered():
            if second.poll() is not None:
                pytest.fail(f"The second worker exited:\n{logs[1].read_text()[-5000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"Not all delivered in {TIMEOUT} s:\n{logs[1].read_text()[-5000:]}")
            if time.monotonic() - last_round > 10:
                last_round = time.monotonic()
                sweep_reminders.apply_async(queue=queue)
                requeue_undelivered.apply_async(kwargs={"min_age_seconds": 10}, queue=queue)
                relay_outbox.apply_async(kwargs={"min_age_seconds": 10}, queue=queue)
            time.sleep(0.1)
        recovered_in = time.monotonic() - restarted

    ids = emails_written(tmp_path / "mail")
    print(
        f"\n{N} reminders: worker killed after {killed_after:.1f} s with {at_kill}; the second worker "
        f"finished in {recovered_in:.1f} s; {len(ids)} emails written, {len(set(ids))} distinct"
    )
    assert Notification.objects.count() == N
    assert Notification.objects.filter(kind=NotificationKind.DECISION_UNCONFIRMED).count() == N
    assert Notification.objects.values("key").distinct().count() == N
    assert OutboxEmail.objects.count() == N
    assert OutboxEmail.objects.values("notification").distinct().count() == N
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()
    # Every reminder reached the backend, each under its own Message-ID. Only a kill between the hand-over
    # and committing `delivered_at` can send one twice (the solo pool hands over one at a time).
    assert set(ids) == expected_ids(NotificationKind.DECISION_UNCONFIRMED)
    assert N <= len(ids) <= N + 1


def test_two_beats_at_once_send_nothing_twice(transactional_db, cast, tmp_path, not_eager):
    n = 20
    due_decisions(cast, n)
    migration = importlib.import_module("supervision.migrations.0003_install_schedule")
    beat.install(django_apps, migration.TASKS)
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.get(name="supervision: sweep reminders")
    task.crontab, task.interval, task.expire_seconds = None, every_second, 5
    task.save()
    queue = f"reminders-{uuid.uuid4().hex[:8]}"
    env = worker_environment(tmp_path, queue)
    scheduler = "--scheduler=django_celery_beat.schedulers:DatabaseScheduler"
    logs = [tmp_path / "worker.log", tmp_path / "beat1.log", tmp_path / "beat2.log"]
    with celery(worker("beats", concurrency=4), env, logs[0]) as the_worker:
        with (
            celery(["beat", "--loglevel=INFO", scheduler, f"--pidfile={tmp_path / 'beat1.pid'}"], env, logs[1]) as b1,
            celery(["beat", "--loglevel=INFO", scheduler, f"--pidfile={tmp_path / 'beat2.pid'}"], env, logs[2]) as b2,
        ):
            # About ten seconds: until each beat has sent five sweeps.
            wait_for(
                lambda: min(sweeps_sent(logs[1:])) >= 5, [the_worker, b1, b2], logs, timeout=60, every=0.5,
                what="five sweeps from each beat",
            )  # fmt: skip
        wait_for(
            lambda: OutboxEmail.objects.filter(delivered_at__isnull=False).count() >= n,
            [the_worker], logs[:1], timeout=60, what="the emails",
        )  # fmt: skip

    worker_log = logs[0].read_text()
    sweeps = len(re.findall(r"Task supervision\.sweep_reminders\[[^]]+\] succeeded", worker_log))
    sent_by = sweeps_sent(logs[1:])
    ids = emails_written(tmp_path / "mail")
    print(f"\nTwo beats sent {sent_by} sweeps; the worker ran {sweeps}; {len(ids)} emails for {n} reminders")
    assert all(count >= 5 for count in sent_by), sent_by
    assert sweeps >= 10
    assert Notification.objects.count() == n
    assert OutboxEmail.objects.count() == n
    assert set(ids) == expected_ids(NotificationKind.DECISION_UNCONFIRMED)
    assert len(ids) == n
