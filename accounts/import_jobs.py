"""Large staff imports as background jobs: queued at the confirmation, run by a worker in batches,
followed by the admin on a page that polls a small status URL.

Batches, not all-or-nothing: each batch of rows is one transaction, and the job's counters are written
in it, so the progress bar shows what is saved and a worker that dies loses at most the batch it was in.
Running the job again (a redelivered task, or the admin's "run it again") is safe because the import
is keyed by email: it parses the file afresh, rows already written come back unchanged, and only the
rest is written. The rows are checked again when the job runs, against the organisation as it is then;
a file that no longer passes writes nothing and says which rows.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import staff_import
from .access import admin_settings
from .audit import audit_event
from .imports import pending_import_discard
from .models import PendingImport, Role, StaffImportJob, StaffMember

# A running job whose worker has said nothing for this long is taken as dead and may be run again.
STALE_AFTER = timedelta(minutes=5)
# A stopped job keeps its copy of the file this long for "Run it again"; then the personal data goes.
KEEP_STOPPED = timedelta(days=7)
PROBLEMS_KEPT = 200


def runs_in_background(result: staff_import.ImportResult) -> bool:
    return len(result.rows) > settings.STAFF_IMPORT_BACKGROUND_ROWS


@transaction.atomic
def staff_import_job_start(
    *, actor: StaffMember, pending: PendingImport, resolutions: dict, send_invitations: bool, request=None
) -> StaffImportJob:
    """Queue the checked file for a worker. The kept upload is removed here, so a second confirmation of
    the same file (a double click) is refused rather than queued twice."""
    pending_import_discard(pending=pending)
    StaffImportJob.objects.filter(
        status=StaffImportJob.Status.FAILED, finished_at__lt=timezone.now() - KEEP_STOPPED
    ).exclude(text="").update(text="")
    job = StaffImportJob.objects.create(
        organisation=actor.organisation,
        requested_by=actor,
        text=pending.text,
        resolutions=resolutions,
        send_invitations=send_invitations,
    )
    audit_event(action="staff.import_queued", actor=actor.user, obj=job, organisation=actor.organisation,
                request=request, details={"send_invitations": send_invitations})  # fmt: skip
    _queue(job)
    return job


def _queue(job: StaffImportJob) -> None:
    from .tasks import run_staff_import

    job_id = job.id
    transaction.on_commit(lambda: run_staff_import.delay(job_id))


@transaction.atomic
def staff_import_job_retry(*, actor: StaffMember, job: StaffImportJob, request=None) -> bool:
    """The admin runs a stopped job again (or one whose worker went quiet); False when it is not stuck."""
    job = StaffImportJob.objects.select_for_update().get(pk=job.pk)
    if not _claimable(job) or job.status == StaffImportJob.Status.DONE or not job.text:
        return False
    job.status, job.error = StaffImportJob.Status.QUEUED, ""
    job.save(update_fields=["status", "error"])
    audit_event(action="staff.import_retried", actor=actor.user, obj=job, organisation=job.organisation,
                request=request)  # fmt: skip
    _queue(job)
    return True


def _claimable(job: StaffImportJob) -> bool:
    if job.status in (StaffImportJob.Status.QUEUED, StaffImportJob.Status.FAILED):
        return True
    stale = job.heartbeat_at is None or job.heartbeat_at < timezone.now() - STALE_AFTER
    return job.status == StaffImportJob.Status.RUNNING and stale


def _claim(job_id: int) -> StaffImportJob | None:
    """Take the job for this run, or None when it is finished or another worker is on it."""
    with transaction.atomic():
        job = StaffImportJob.objects.select_for_update().select_related("requested_by", "organisation").get(pk=job_id)
        if job.status == StaffImportJob.Status.FAILED or not _claimable(job):
            return None
        job.status, job.heartbeat_at, job.done, job.error = StaffImportJob.Status.RUNNING, timezone.now(), 0, ""
        job.save(update_fields=["status", "heartbeat_at", "done", "error"])
    return job


def _parse(job: StaffImportJob) -> staff_import.ImportResult:
    admin = job.requested_by
    return staff_import.parse(
        job.text,
        organisation=job.organisation,
        allowed_settings=list(admin_settings(admin)),
        org_wide=admin.role_scope(Role.ORG_ADMIN) == "organisation",
        manageable=StaffMember.objects.manageable_by(admin),
        importer=admin,
        resolutions=job.resolutions,
    )


def _batches(result: staff_import.ImportResult, size: int):
    """Rows to write, supervisors before the people they supervise (by depth across the whole file), so
    a supervisor new in the file is saved in an earlier batch or the same one."""
    new = [r for level in staff_import._levels([r for r in result.rows if r.action == "new"]) for r in level]
    rest = [r for r in result.rows if r.action != "new"]
    ordered = new + rest
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


def _fail(job: StaffImportJob, error: str, problems=()) -> None:
    with transaction.atomic():
        StaffImportJob.objects.filter(pk=job.pk).update(
            status=StaffImportJob.Status.FAILED,
            error=error[:300],
            problems=[str(p) for p in problems][:PROBLEMS_KEPT],
            finished_at=timezone.now(),
        )
        audit_event(action="staff.import_failed", obj=job, organisation=job.organisation,
                    details={"error": error[:300], "problems": len(problems)})  # fmt: skip


def staff_import_job_run(job_id: int) -> None:
    """Run (or finish) a queued import. Safe to run twice, or after a worker died part-way."""
    job = _claim(job_id)
    if job is None:
        return
    actor = job.requested_by.user
    result = _parse(job)
    if not result.ok:
        _fail(job, "Rows of the file no longer pass the checks: nothing more was imported.", result.problems)
        return
    StaffImportJob.objects.filter(pk=job.pk).update(total=len(result.rows))
    done = result.count("unchanged")
    for batch in _batches(result, settings.STAFF_IMPORT_BATCH_ROWS):
        writes = [r for r in batch if r.action != "unchanged"]
        with transaction.atomic():
            locked = StaffImportJob.objects.select_for_update().get(pk=job.pk)
            if locked.status != StaffImportJob.Status.RUNNING:
                return  # stopped meanwhile
            summary = {"created": 0, "updated": 0, "email_changes": 0}
            if writes:
                part = staff_import.ImportResult(writes, [])
                summary = staff_import.apply(
                    part, actor=actor, organisation=job.organisation,
                    send_invitations=job.send_invitations, summary_event=False,
                )  # fmt: skip
            done += len(writes)
            StaffImportJob.objects.filter(pk=job.pk).update(
                done=min(done, len(result.rows)),
                created=locked.created + summary["created"],
                updated=locked.updated + summary["updated"],
                email_changes=locked.email_changes + summary["email_changes"],
                heartbeat_at=timezone.now(),
            )
    # People who supervise each other across two batches get their supervisor now: parsed again, only
    # those rows differ from the file.
    again = _parse(job)
    left = [r for r in again.rows if r.action == "update" and not r.email_change]
    with transaction.atomic():
        if left and again.ok:
            staff_import.apply(
                staff_import.ImportResult(left, []), actor=actor, organisation=job.organisation,
                send_invitations=False, summary_event=False,
            )  # fmt: skip
        job = StaffImportJob.objects.select_for_update().get(pk=job.pk)
        job.status, job.done, job.finished_at, job.text = StaffImportJob.Status.DONE, job.total, timezone.now(), ""
        job.save(update_fields=["status", "done", "finished_at", "text"])
        audit_event(
            action="staff.imported",
            actor=actor,
            organisation=job.organisation,
            details={"created": job.created, "updated": job.updated, "unchanged": job.unchanged,
                     "email_changes": job.email_changes, "job": str(job.code)},
        )  # fmt: skip
