"""Exports at /exports/ (DESIGN section 6): an auditor's ZIP of the signed PDFs inside their grant with
a manifest, and the subject access export of everything the product holds about one member of staff.

`export_start` records the job and queues `records.run_export` when the transaction commits; the
worker calls `run_export`, which builds the ZIP in a temporary file next to its final place, renames it
into PRIVATE_ROOT/exports/<organisation>/<job>.zip and marks the job done in one step. A job already
done is never redone; a run after a crash starts over from nothing. Progress is written with plain
UPDATEs between records, so the status page can read it while the job runs and no transaction is held
open for the length of the export.

Exports are kept seven days. An auditor reaches their own ZIP while the grant holds. A subject access
export is released only to the person it is about: they see on their own /exports/ page that it was made,
when and by whom, and they alone download it. The organisation admin who started it follows its progress
(while they still manage the person) but never gets the file. Anyone else: 404, as for a stranger.
"""

import csv
import hashlib
import io
import json
import logging
import os
import tempfile
import time
import zipfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.audit import audit_event
from accounts.models import AuditEvent, StaffMember
from accounts.templatetags.dates import day
from supervision.models import (
    AgendaItem,
    Contract,
    InformalNote,
    Notification,
    NotificationKind,
    Session,
    SessionKind,
)
from supervision.notify import notifications_done

from .access import live_grants_for, records_in_grant
from .models import Action, Addendum, AuditorGrant, ExportJob, Record, RecordAccess, RecordStatus, Signature
from .pdf import store_record_pdf, stored_pdf_path
from .services import record_content

logger = logging.getLogger(__name__)

EXPORT_LIFETIME = timedelta(days=7)
# The status page polls every second; one UPDATE per ten records keeps the bar moving at little cost.
PROGRESS_EVERY = 10
RECORDS_PER_QUERY = 100
# A second click (or a second tab) within this time returns the job already under way.
RESTART_AFTER = timedelta(minutes=15)

MANIFEST_COLUMNS = [
    "record_code",
    "file",
    "supervisee",
    "supervisor",
    "setting",
    "session_date",
    "pdf_sha256",
    "content_sha256",
]


class ExportError(Exception):
    """A reason the export cannot be made, worded for the person who asked for it."""


# --- Who reaches an export ---------------------------------------------------------------------------


def exports_of(staff: StaffMember):
    """The exports the person asked for, and the subject access exports about them."""
    return (
        ExportJob.objects.filter(organisation_id=staff.organisation_id)
        .filter(Q(requested_by=staff) | Q(kind=ExportJob.Kind.SUBJECT_ACCESS, subject=staff))
        .select_related("grant", "subject__user", "requested_by__user")
    )


def is_released_to(staff: StaffMember, job: ExportJob) -> bool:
    """Whether the person may download the file: an auditor their own grant's ZIP (while it is live, see
    `allowed_job_ids`), a subject access export only the person it is about, never whoever asked for it."""
    if job.kind == ExportJob.Kind.SUBJECT_ACCESS:
        return job.subject_id == staff.pk
    return job.requested_by_id == staff.pk


def allowed_job_ids(staff: StaffMember, jobs) -> set[int]:
    """The jobs among `jobs` (from `exports_of`) that the person may still reach; two queries whatever the
    count. The person a subject access export is about always reaches it."""
    jobs = list(jobs)
    about_me = {j.pk for j in jobs if j.kind == ExportJob.Kind.SUBJECT_ACCESS and j.subject_id == staff.pk}
    jobs = [j for j in jobs if j.requested_by_id == staff.pk and j.pk not in about_me]
    grant_ids = {j.grant_id for j in jobs if j.kind == ExportJob.Kind.AUDIT_ZIP and j.grant_id}
    subject_ids = {j.subject_id for j in jobs if j.kind == ExportJob.Kind.SUBJECT_ACCESS and j.subject_id}
    live = set()
    if grant_ids and staff.is_auditor:
        live = set(live_grants_for(staff).filter(pk__in=grant_ids).values_list("pk", flat=True))
    managed = set()
    if subject_ids and staff.is_org_admin:
        managed = set(StaffMember.objects.manageable_by(staff).filter(pk__in=subject_ids).values_list("pk", flat=True))
    return about_me | {
        j.pk
        for j in jobs
        if (j.kind == ExportJob.Kind.AUDIT_ZIP and j.grant_id in live)
        or (j.kind == ExportJob.Kind.SUBJECT_ACCESS and j.subject_id in managed)
    }


def get_export_for_user(staff: StaffMember, code) -> ExportJob:
    """The person's own export (or one about them), while what it covers is still theirs to see; 404
    otherwise (another person's export, an ended or revoked grant, someone they no longer manage)."""
    job = get_object_or_404(exports_of(staff), code=code)
    if job.pk not in allowed_job_ids(staff, [job]):
        raise Http404("No such export.")
    return job


def is_expired(job: ExportJob, now=None) -> bool:
    return job.expires_at is not None and job.expires_at <= (now or timezone.now())


def export_file(job: ExportJob) -> Path | None:
    """The finished file, or None (not done, or gone)."""
    if job.status != ExportJob.Status.DONE or not job.file_path:
        return None
    root = Path(settings.PRIVATE_ROOT).resolve()
    path = (root / job.file_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        logger.error("The file of export %s is missing: %s", job.code, job.file_path)
        return None
    return path


# --- Starting one ------------------------------------------------------------------------------------


@transaction.atomic
def export_start(
    *,
    actor: StaffMember,
    kind: str,
    grant: AuditorGrant | None = None,
    subject: StaffMember | None = None,
    reference: str = "",
    request=None,
) -> ExportJob:
    """Record the job and queue it when the transaction commits. The grant must be one of the actor's
    live grants, the subject someone the actor manages (the forms offer nothing else; checked again)."""
    if kind == ExportJob.Kind.AUDIT_ZIP:
        if grant is None or not live_grants_for(actor).filter(pk=grant.pk).exists():
            raise ExportError("Choose one of your live grants.")
        subject = None
    elif kind == ExportJob.Kind.SUBJECT_ACCESS:
        if subject is None or not StaffMember.objects.manageable_by(actor).filter(pk=subject.pk).exists():
            raise ExportError("Choose someone you manage.")
        grant = None
    else:
        raise ExportError("Unknown kind of export.")
    now = timezone.now()
    under_way = (
        ExportJob.objects.filter(
            requested_by=actor,
            kind=kind,
            grant=grant,
            subject=subject,
            status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING],
            created_at__gt=now - RESTART_AFTER,
        )
        .order_by("-created_at")
        .first()
    )
    if under_way:
        return under_way
    job = ExportJob.objects.create(
        organisation_id=actor.organisation_id,
        requested_by=actor,
        kind=kind,
        grant=grant,
        subject=subject,
        created_at=now,
        queued_at=now,
        expires_at=now + EXPORT_LIFETIME,
    )
    details = {"kind": kind, "expires_at": job.expires_at.isoformat()}
    if grant is not None:
        details["grant"] = str(grant.code)
    if subject is not None:
        details.update(subject=str(subject.code), subject_name=subject.full_name)
    if reference:
        details["reference"] = reference
    audit_event(action="export.requested", actor=actor.user, obj=job, organisation=actor.organisation, request=request,
                details=details)  # fmt: skip
    if subject is not None:
        _tell_subject(job, ready=False)
    from .tasks import run_export as run_export_task

    transaction.on_commit(lambda: run_export_task.delay(job.id))
    return job


def _tell_subject(job: ExportJob, *, ready: bool) -> None:
    """The person a subject access export is about learns that it was asked for, by whom, and when it is
    theirs to download (in the product, and by email unless they switched that kind off)."""
    from supervision.notify import notify

    requested = f"{job.requested_by.full_name} asked on {timezone.localtime(job.created_at):%a %-d %b %Y at %H:%M}"
    if ready:
        title = "An export of your data is ready for you"
        body = (
            f"{requested} for an export of everything Supervision holds about you. It is ready, and only you "
            f"can download it, from Exports, until {timezone.localtime(job.expires_at):%a %-d %b %Y at %H:%M}."
        )
    else:
        title = "An export of your data was asked for"
        body = (
            f"{requested} for an export of everything Supervision holds about you (a subject access request). "
            "It is made for you alone: when it is ready you download it from Exports; the person who asked "
            "does not receive the file."
        )
    notify(
        recipient=job.subject, kind=NotificationKind.SUBJECT_ACCESS_EXPORT, object_type="exportjob",
        object_code=job.code, period="ready" if ready else "requested", title=title, body=body,
        url=reverse("records:export-status", kwargs={"code": job.code}),
    )  # fmt: skip


def record_download(*, actor: StaffMember, job: ExportJob, request=None) -> None:
    details = {"kind": job.kind, "sha256": job.sha256}
    if job.grant_id:
        details["grant"] = str(job.grant.code)
    if job.subject_id:
        details.update(subject=str(job.subject.code), subject_name=job.subject.full_name)
    audit_event(action="export.downloaded", actor=actor.user, obj=job, organisation=actor.organisation,
                request=request, details=details)  # fmt: skip
    # "An export of your data is ready: download it" is answered by the download.
    notifications_done(
        object_type="exportjob", object_code=job.code, kinds=[NotificationKind.SUBJECT_ACCESS_EXPORT], recipient=actor
    )


# --- The job runner ----------------------------------------------------------------------------------


def run_export(job_id: int) -> None:
    """Build the export. Idempotent: a job already done returns at once; any other state starts over."""
    job = _claim(job_id)
    if job is None:
        return
    started = time.monotonic()
    final = Path(settings.PRIVATE_ROOT) / "exports" / str(job.organisation.code) / f"{job.code}.zip"
    temporary = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=final.parent, prefix=f".{job.code}-", suffix=".part")  # mode 0600
        temporary = Path(name)
        with os.fdopen(descriptor, "w+b") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                if job.kind == ExportJob.Kind.AUDIT_ZIP:
                    summary = _write_audit_zip(job, archive)
                else:
                    summary = _write_subject_access(job, archive)
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        summary.update(bytes=temporary.stat().st_size, seconds=round(time.monotonic() - started, 2))
        _finish(job, temporary, final, digest, summary)
    except ExportError as error:
        _fail(job, str(error))
    except Exception:
        logger.exception("Export %s failed", job.code)
        _fail(job, "Something went wrong while making the export; it has been logged. Start it again.")
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


# While the workers render the PDFs an auditor's ZIP is missing, the export looks again this often, and
# gives up waiting (rendering what is left itself) after this many looks. Its first look is queued behind
# the renders, so the looks only begin once the workers have taken the last of them: a look a second (one
# query) starts the ZIP within a second of the last PDF, where five seconds idled 2.5 s on average.
RENDER_POLL_SECONDS = 1
RENDER_POLLS = 60


def pdfs_to_render(job_id: int) -> list[int]:
    """The records an auditor's ZIP will hold that have no stored PDF yet (one query). The task renders
    them in parallel on the workers before it builds the ZIP: one after another inside the export, a
    thousand took minutes. Empty for any other job, and for one already done."""
    job = ExportJob.objects.select_related("grant").filter(pk=job_id).first()
    if job is None or job.kind != ExportJob.Kind.AUDIT_ZIP or job.grant is None or job.status == ExportJob.Status.DONE:
        return []
    return list(
        records_in_grant(job.grant)
        .filter(status=RecordStatus.SIGNED, pdf_sha256="")
        .order_by("id")
        .values_list("id", flat=True)
    )


def waiting_for_pdfs(job_id: int, missing: int, *, first: bool) -> None:
    """The job is under way while the workers make the `missing` PDFs its ZIP needs: its page counts them
    (`done` of `total` made) and each look is a heartbeat. The first look counts from nought; a later one
    sets what the workers have stored since. A job done, failed or expired meanwhile is left as it is."""
    fields = {"status": ExportJob.Status.RUNNING, "making_pdfs": True, "heartbeat_at": timezone.now()}
    fields |= {"done": 0, "total": missing} if first else {"done": Greatest(F("total") - missing, 0)}
    ExportJob.objects.filter(pk=job_id, status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING]).exclude(
        expires_at__lte=timezone.now()
    ).update(**fields)


def pdf_made(job_id: int, *, stored: bool) -> None:
    """A worker has made one of the PDFs the job waits for (`stored`), or tried to: a heartbeat, so the
    late-export sweep does not queue the job again while its PDFs are being made (an export of thousands
    of records took longer than the sweep's five minutes on two cores), and one more counted."""
    fields = {"heartbeat_at": timezone.now()} | ({"done": Least(F("done") + 1, F("total"))} if stored else {})
    ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.RUNNING, making_pdfs=True).update(**fields)


def _claim(job_id: int) -> ExportJob | None:
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update(of=("self",))
            .select_related("organisation", "requested_by__user", "grant", "subject__user")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.status == ExportJob.Status.DONE:
            return None
        if is_expired(job):
            ExportJob.objects.filter(pk=job.pk).update(
                status=ExportJob.Status.FAILED, error="It expired before it could run.", finished_at=timezone.now(),
                making_pdfs=False,
            )  # fmt: skip
            return None
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.RUNNING, done=0, total=0, error="", file_path="", sha256="", finished_at=None,
            heartbeat_at=timezone.now(), making_pdfs=False,
        )  # fmt: skip
    return job


def _progress(job: ExportJob, done: int, total: int | None = None) -> None:
    fields = {"done": done, "heartbeat_at": timezone.now()} | ({} if total is None else {"total": total})
    ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(**fields)


def _finish(job: ExportJob, temporary: Path, final: Path, digest: str, summary: dict) -> None:
    with transaction.atomic():
        current = ExportJob.objects.select_for_update().get(pk=job.pk)
        if current.status == ExportJob.Status.DONE:
            # Another run of the same job (a redelivered task) finished first: its file stands.
            return
        os.replace(temporary, final)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.DONE,
            done=current.total,
            file_path=str(final.relative_to(settings.PRIVATE_ROOT)),
            sha256=digest,
            error="",
            finished_at=timezone.now(),
        )
        audit_event(action="export.completed", obj=job, organisation=job.organisation,
                    details={"kind": job.kind, "sha256": digest, **summary})  # fmt: skip
        if job.kind == ExportJob.Kind.SUBJECT_ACCESS and job.subject is not None:
            _tell_subject(job, ready=True)
    logger.info("Export %s done: %s", job.code, summary)


def _fail(job: ExportJob, error: str) -> None:
    ExportJob.objects.filter(pk=job.pk).exclude(status=ExportJob.Status.DONE).update(
        status=ExportJob.Status.FAILED, error=error[:300], finished_at=timezone.now()
    )


# --- Writing files -----------------------------------------------------------------------------------


def _cell(value):
    """A CSV cell a spreadsheet will not run: text starting with = + - @ is prefixed with a quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_bytes(columns: list[str], rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    # With a byte-order mark Excel reads the names' accents right.
    return out.getvalue().encode("utf-8-sig")


def _when(moment) -> str:
    return timezone.localtime(moment).isoformat() if moment else ""


def _supervised(session: Session) -> str:
    return "; ".join(sorted(s.full_name for s in session.attendees.all()))


# --- The auditor's ZIP -------------------------------------------------------------------------------


def _signed_pdf(record: Record) -> bytes:
    """The stored PDF, made first when missing. Its bytes must hash to the stored SHA-256, which is what
    /records/verify/ trusts; a file that does not is stored afresh (that writes an audit event)."""
    for _attempt in range(2):
        path = stored_pdf_path(record)
        if path is not None:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() == record.pdf_sha256:
                return data
            logger.error("The stored PDF of record %s does not match its hash; storing it again.", record.code)
        store_record_pdf(record.pk)
        record.refresh_from_db(fields=["pdf_path", "pdf_sha256", "pdf_generated_at"])
    raise ExportError(f"The PDF of record {record.code} could not be made. Try again later.")


def _archive_name(record: Record) -> str:
    session = record.session
    if session.group_id:
        who = session.group.name
    else:
        who = " ".join(s.full_name for s in sorted(session.attendees.all(), key=lambda s: s.full_name))
    iso_day = timezone.localtime(session.starts_at).date().isoformat()  # ISO in file names: they sort by date
    return f"records/{iso_day}-{slugify(who)[:60] or 'record'}-{record.code}.pdf"


def _write_audit_zip(job: ExportJob, archive: zipfile.ZipFile) -> dict:
    grant = job.grant
    if grant is None or not live_grants_for(job.requested_by).filter(pk=grant.pk).exists():
        raise ExportError("The grant has ended or was revoked: nothing was exported.")
    ids = list(
        records_in_grant(grant)
        .filter(status=RecordStatus.SIGNED)
        .order_by("session__starts_at", "id")
        .values_list("id", flat=True)
    )
    _progress(job, 0, len(ids))
    rows = []
    for start in range(0, len(ids), RECORDS_PER_QUERY):
        chunk = ids[start : start + RECORDS_PER_QUERY]
        records = (
            Record.objects.filter(pk__in=chunk)
            .select_related("organisation", "session__setting", "session__group", "supervisor__user")
            .prefetch_related("session__attendees__user")
        )
        by_id = {r.pk: r for r in records}
        for record_id in chunk:
            record = by_id.get(record_id)
            if record is None:
                raise ExportError("A record was deleted while the export ran. Start it again.")
            data = _signed_pdf(record)
            name = _archive_name(record)
            # PDFs are compressed already: stored as they are, their bytes in the ZIP are the file's.
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
            rows.append(
                {
                    "record_code": str(record.code),
                    "file": name,
                    "supervisee": _supervised(record.session),
                    "supervisor": record.supervisor.full_name,
                    "setting": record.session.setting.name,
                    "session_date": day(record.session.starts_at),
                    "pdf_sha256": hashlib.sha256(data).hexdigest(),
                    "content_sha256": record.content_hash,
                }
            )
            if len(rows) % PROGRESS_EVERY == 0:
                _progress(job, len(rows))
    archive.writestr("manifest.csv", _csv_bytes(MANIFEST_COLUMNS, rows))
    archive.writestr("README.txt", _audit_readme(job, grant, len(rows)))
    _progress(job, len(rows))
    return {"records": len(rows), "grant": str(grant.code)}


def _audit_readme(job: ExportJob, grant: AuditorGrant, count: int) -> str:
    settings_names = ", ".join(s.name for s in grant.settings.all())
    return (
        f"Signed supervision records of {job.organisation.name}\n"
        f"Exported for {job.requested_by.full_name} on {timezone.localtime():%d %B %Y at %H:%M}.\n"
        f"Grant: {settings_names}; sessions from {grant.covers_from:%d %B %Y} to {grant.covers_until:%d %B %Y}.\n"
        f"{count} signed record{'s' if count != 1 else ''}.\n\n"
        "records/ holds one signed PDF per record. manifest.csv lists each with the SHA-256 of the PDF file\n"
        "(pdf_sha256) and of the content everyone signed (content_sha256). To check a PDF, compare its\n"
        "SHA-256 with the manifest, or upload it at /records/verify/ in the product.\n"
    )


# --- Subject access ----------------------------------------------------------------------------------


def _staff_part(subject: StaffMember) -> dict:
    return {
        "code": str(subject.code),
        "name": subject.full_name,
        "email": subject.email,
        "job_title": subject.job_title,
        "employment_type": subject.get_employment_type_display(),
        "start_date": subject.start_date,
        "leaving_date": subject.leaving_date,
        "new_to_post": subject.new_to_post,
        "legal_hold": subject.legal_hold,
        "supervisor": subject.supervisor.full_name if subject.supervisor_id else None,
        "settings": [s.name for s in subject.settings.all()],
        "roles": [
            {"role": a.get_role_display(), "where": a.setting.name if a.setting_id else "Whole organisation"}
            for a in subject.role_assignments.select_related("setting")
        ],
        "working_days": [
            {"day": d.get_weekday_display(), "starts": d.starts, "ends": d.ends} for d in subject.working_days.all()
        ],
        "groups": [g.name for g in subject.supervision_groups.all()],
        "notification_preferences": [
            {"kind": p.get_kind_display(), "email": p.email} for p in subject.notification_preferences.all()
        ],
        "account_created": subject.user.date_joined,
        "last_sign_in": subject.user.last_login,
    }


def _agreements(subject: StaffMember) -> list[dict]:
    contracts = (
        Contract.objects.filter(organisation_id=subject.organisation_id)
        .filter(Q(supervisee=subject) | Q(supervisor=subject))
        .select_related("supervisee__user", "supervisor__user")
        .prefetch_related("overrides")
        .order_by("start_date", "id")
    )
    return [
        {
            "code": str(c.code),
            "as": "supervisee" if c.supervisee_id == subject.pk else "supervisor",
            "supervisee": c.supervisee.full_name,
            "supervisor": c.supervisor.full_name,
            "kind": c.get_kind_display(),
            "frequency": c.get_frequency_display(),
            "session_minutes": c.session_minutes,
            "venue": c.venue,
            "start_date": c.start_date,
            "review_date": c.review_date,
            "end_date": c.end_date,
            "end_reason": c.end_reason,
            "purpose": c.purpose,
            "supervisor_responsibilities": c.supervisor_responsibilities,
            "supervisee_responsibilities": c.supervisee_responsibilities,
            "confidentiality_terms": c.confidentiality_terms,
            "supervisee_signed_at": c.supervisee_signed_at,
            "supervisor_signed_at": c.supervisor_signed_at,
            "signed_sha256": c.signed_hash,
            "frequency_changes": [
                {"frequency": o.get_frequency_display(), "reason": o.reason, "starts": o.starts, "ends": o.ends}
                for o in c.overrides.all()
            ],
        }
        for c in contracts
    ]


def _sessions(subject: StaffMember) -> list[dict]:
    # The ids first: with the joins for the names in the same query, PostgreSQL joins every session of the
    # organisation before it applies the person's few (past its collapse limit).
    ids = list(Session.objects.involving(subject).values_list("pk", flat=True))
    sessions = (
        Session.objects.filter(pk__in=ids)
        .select_related("setting", "group", "contract__supervisee__user", "supervisor__user")
        .prefetch_related("attendees__user")
        .order_by("starts_at", "id")
    )
    return [
        {
            "code": str(s.code),
            "as": "supervisor" if s.supervisor_id == subject.pk else "supervised",
            "title": s.title,
            "kind": s.get_kind_display(),
            "setting": s.setting.name,
            "starts_at": _when(s.starts_at),
            "ends_at": _when(s.ends_at),
            "venue": s.venue,
            "status": s.get_status_display(),
            "supervisor": s.supervisor.full_name,
            "supervised": _supervised(s),
            "cancelled_at": _when(s.cancelled_at),
            "cancel_reason": s.cancel_reason,
        }
        for s in sessions
    ]


def _agenda_items(subject: StaffMember) -> list[dict]:
    items = AgendaItem.objects.filter(added_by=subject).select_related("session").order_by("created_at", "id")
    return [
        {
            "session": str(i.session.code),
            "session_date": day(i.session.starts_at),
            "text": i.text,
            "added_at": _when(i.created_at),
        }
        for i in items
    ]


def _informal_notes(subject: StaffMember) -> list[dict]:
    notes = InformalNote.objects.filter(supervisee=subject).select_related("recorded_by__user", "revisited_in")
    return [
        {
            "code": str(n.code),
            "occurred_on": n.occurred_on,
            "recorded_by": n.recorded_by.full_name,
            "summary": n.summary,
            "significant": n.significant,
            "revisited_in_session": str(n.revisited_in.code) if n.revisited_in_id else None,
            "recorded_at": _when(n.created_at),
        }
        for n in notes.order_by("occurred_on", "id")
    ]


def _records(subject: StaffMember) -> list[dict]:
    """Records of the sessions the person was supervised in, with everything they hold: the signed
    content, its state, signatures, addenda and who else read them. Not the records they wrote about
    other people as a supervisor: those are the supervisees' to ask for.

    In a group record the other participants' own words are theirs, not the person's: their comments,
    addenda and actions, and the group's end-of-session feedback (one text any participant may have
    written), are left out and the record says so. The supervisor's notes of the session stay: they are
    the record of the person's supervision, which the person reads and signs in the product."""
    records = (
        Record.objects.filter(organisation_id=subject.organisation_id, session__attendees=subject)
        .select_related(
            "organisation", "session__setting", "session__group", "supervisor__user", "template_version__template"
        )
        .order_by("session__starts_at", "id")
        .distinct()
    )
    out = []
    for record in records:
        signatures = Signature.objects.filter(record=record).select_related("signer__user", "addendum")
        addenda = Addendum.objects.filter(record=record, locked_at__isnull=False).select_related("author__user")
        accesses = RecordAccess.objects.filter(record=record).select_related("viewer__user")
        content = record_content(record)
        group = record.session.kind == SessionKind.GROUP
        left_out = {}
        if group:
            content, left_out = _without_other_participants(record, content, subject)
            addenda = [a for a in addenda if a.author_id in (subject.pk, record.supervisor_id)]
            left_out["addenda"] = Addendum.objects.filter(record=record, locked_at__isnull=False).count() - len(addenda)
            signatures = [
                s
                for s in signatures
                if s.addendum is None or s.addendum.author_id in (subject.pk, record.supervisor_id)
            ]
        out.append(
            {
                "code": str(record.code),
                "session_date": day(record.session.starts_at),
                "status": record.get_status_display(),
                "revision": record.revision,
                "locked_at": _when(record.locked_at),
                "content_sha256": record.content_hash,
                "pdf_sha256": record.pdf_sha256,
                "content": content,
                "left_out": left_out,
                "addenda": [
                    {"author": a.author.full_name, "text": a.text, "locked_at": _when(a.locked_at)} for a in addenda
                ],
                "signatures": [
                    {
                        "signer": s.signer_name or s.signer.full_name,
                        "capacity": s.get_capacity_display(),
                        "on": "addendum" if s.addendum_id else "record",
                        "signed_at": _when(s.signed_at),
                        "revision": s.revision,
                        "content_sha256": s.content_hash,
                        "voided_at": _when(s.voided_at),
                    }
                    for s in signatures
                ],
                "read_by": [
                    {"viewer": a.viewer.full_name, "as": a.capacity, "reason": a.reason, "at": _when(a.granted_at)}
                    for a in accesses
                ],
            }
        )
    return out


def _without_other_participants(record: Record, content: dict, subject: StaffMember) -> tuple[dict, dict]:
    """A group record's content without what other participants wrote or own; and how much was left out.
    `record_content` lists comments and actions in id order, so they pair with their rows here."""
    keep = {subject.pk, record.supervisor_id}
    comment_authors = list(record.comments.order_by("id").values_list("author_id", flat=True))
    action_owners = list(record.actions.order_by("id").values_list("owner_id", flat=True))
    comments = [c for c, author in zip(content["comments"], comment_authors, strict=True) if author in keep]
    actions = [a for a, owner in zip(content["actions"], action_owners, strict=True) if owner in keep]
    left_out = {
        "comments": len(content["comments"]) - len(comments),
        "actions": len(content["actions"]) - len(actions),
        "supervisee_feedback": bool(content["supervisee_feedback"]),
        "why": "Other participants' own words in a group record are theirs: left out of this export, so "
        "content_sha256 does not match this content.",
    }
    return {**content, "comments": comments, "actions": actions, "supervisee_feedback": ""}, left_out


def _actions(subject: StaffMember) -> list[dict]:
    actions = Action.objects.filter(owner=subject).select_related("record__session").order_by("due_date", "id")
    return [
        {
            "code": str(a.code),
            "description": a.description,
            "agreed_in_session_on": day(a.record.session.starts_at),
            "due_date": a.due_date,
            "status": a.get_status_display(),
            "done_at": _when(a.done_at),
            "done_note": a.done_note,
            "review_outcome": a.review_outcome,
        }
        for a in actions
    ]


def _notifications(subject: StaffMember) -> list[dict]:
    return [
        {
            "kind": n.get_kind_display(),
            "title": n.title,
            "body": n.body,
            "created_at": _when(n.created_at),
            "emailed_at": _when(n.emailed_at),
            "read_at": _when(n.read_at),
        }
        for n in Notification.objects.filter(recipient=subject).order_by("created_at", "id")
    ]


def _audit_events(subject: StaffMember, record_codes: list[str]) -> list[dict]:
    """Events where the person acted, or about them: their staff row, their records, exports of their data.
    The address and browser of someone else who acted are that person's data and are left out."""
    about = (
        Q(actor=subject.user)
        | Q(object_type="staffmember", object_code=str(subject.code))
        | Q(object_type="record", object_code__in=record_codes)
        | Q(details__subject=str(subject.code))
    )
    events = AuditEvent.objects.filter(organisation_id=subject.organisation_id).filter(about)
    return [
        {
            "at": _when(e.created_at),
            "actor": e.actor_name or "system",
            "action": e.action,
            "object_type": e.object_type,
            "object_code": e.object_code,
            "object": e.object_repr,
            "details": e.details,
            "ip_address": e.ip_address if e.actor_id == subject.user_id else None,
            "user_agent": e.user_agent if e.actor_id == subject.user_id else "",
        }
        for e in events.order_by("created_at", "id")
    ]


def _flat(rows: list[dict]) -> list[dict]:
    """Nested values (lists, dicts) become JSON text in a CSV cell."""
    return [
        {k: json.dumps(v, cls=DjangoJSONEncoder, ensure_ascii=False) if isinstance(v, list | dict) else v
         for k, v in row.items()}
        for row in rows
    ]  # fmt: skip


def _write_subject_access(job: ExportJob, archive: zipfile.ZipFile) -> dict:
    subject = job.subject
    if subject is None or not StaffMember.objects.manageable_by(job.requested_by).filter(pk=subject.pk).exists():
        raise ExportError("You no longer manage this person: nothing was exported.")
    parts = [
        ("agreements", _agreements),
        ("sessions", _sessions),
        ("agenda_items", _agenda_items),
        ("informal_notes", _informal_notes),
        ("records", _records),
        ("actions", _actions),
        ("notifications", _notifications),
    ]
    _progress(job, 0, len(parts) + 2)
    data = {"staff": _staff_part(subject)}
    _progress(job, 1)
    for done, (name, build) in enumerate(parts, start=2):
        data[name] = build(subject)
        _progress(job, done)
    data["audit_events"] = _audit_events(subject, [r["code"] for r in data["records"]])
    data = {
        "export": {
            "organisation": job.organisation.name,
            "subject": subject.full_name,
            "requested_by": job.requested_by.full_name,
            "generated_at": _when(timezone.now()),
            "export_code": str(job.code),
        },
        **data,
    }
    archive.writestr("subject-access.json", json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2))
    staff = data["staff"]
    archive.writestr("staff.csv", _csv_bytes(list(staff), _flat([staff])))
    archive.writestr("roles.csv", _csv_bytes(["role", "where"], staff["roles"]))
    for name, _build in parts:
        rows = data[name]
        if name == "records":
            archive.writestr("record_sections.csv", _record_sections_csv(rows))
            rows = [{k: v for k, v in r.items() if k != "content"} for r in rows]
        columns = list(rows[0]) if rows else ["none"]
        archive.writestr(f"{name}.csv", _csv_bytes(columns, _flat(rows)))
    events = data["audit_events"]
    archive.writestr("audit_events.csv", _csv_bytes(list(events[0]) if events else ["none"], _flat(events)))
    archive.writestr("README.txt", _subject_readme(job))
    _progress(job, len(parts) + 2)
    return {"subject": str(subject.code), **{name: len(data[name]) for name, _ in parts}, "audit_events": len(events)}


def _record_sections_csv(records: list[dict]) -> bytes:
    columns = ["record_code", "session_date", "section", "discussion"]
    rows = [
        {
            "record_code": r["code"],
            "session_date": r["session_date"],
            "section": s["title"],
            "discussion": s["discussion"],
        }
        for r in records
        for s in r["content"]["sections"]
    ]
    return _csv_bytes(columns, rows)


def _subject_readme(job: ExportJob) -> str:
    return (
        f"Subject access export: {job.subject.full_name}, {job.organisation.name}\n"
        f"Asked for by {job.requested_by.full_name}; made on {timezone.localtime():%a %-d %b %Y at %H:%M} for "
        f"{job.subject.full_name} alone to download.\n\n"
        "subject-access.json holds everything; the CSV files hold the same, one table each:\n"
        "staff and roles, agreements (as supervisee and as supervisor, with their terms and signatures),\n"
        "sessions, agenda items the person added, informal notes about them, the records of sessions they\n"
        "were supervised in (record_sections.csv has what was written), actions they own, notifications\n"
        "sent to them, and audit events where they acted or that are about them or their records.\n\n"
        "Group records: what other participants wrote themselves (their comments, addenda and actions, and\n"
        "the group's feedback) is theirs and is left out; each record's left_out says how much.\n"
        "Names are shown as they were when the record was signed.\n"
    )


# --- Housekeeping ------------------------------------------------------------------------------------


def delete_expired_export_files(now=None) -> int:
    """Delete the files of expired exports (the job rows stay, as history), each with an audit event;
    returns how many went. Safe to run twice at once: a job is claimed under a row lock."""
    now = now or timezone.now()
    root = Path(settings.PRIVATE_ROOT).resolve()
    deleted = 0
    for job_id in ExportJob.objects.filter(expires_at__lte=now).exclude(file_path="").values_list("id", flat=True):
        with transaction.atomic():
            job = (
                ExportJob.objects.select_for_update(skip_locked=True)
                .filter(pk=job_id, expires_at__lte=now)
                .exclude(file_path="")
                .first()
            )
            if job is None:
                continue
            path = (root / job.file_path).resolve()
            if path.is_relative_to(root):
                path.unlink(missing_ok=True)
            ExportJob.objects.filter(pk=job.pk).update(file_path="")
            audit_event(
                action="export.file_deleted",
                obj=job,
                details={"kind": job.kind, "expired_at": job.expires_at.isoformat()},
            )
        deleted += 1
    return deleted
