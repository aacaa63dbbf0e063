"""/exports/: a person's own export jobs, and the exports their role offers: an auditor exports the
signed records of a live grant (ZIP with a manifest), an organisation admin answers a subject access
request for someone they manage. Heads and DSLs find the compliance CSV linked here.

The subject access export holds the narrative of the person's records. The organisation admin, who
never reads a narrative in the product, starts it (answering the request is the organisation's legal
duty) and follows its progress; the file is released only to the person it is about, who sees here that
it was made, when and by whom, and downloads it. Nothing here shows the narrative.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import staff_required

from ..access import live_grants_for
from ..exports import (
    ExportError,
    allowed_job_ids,
    export_file,
    export_start,
    exports_of,
    get_export_for_user,
    is_expired,
    is_released_to,
    record_download,
)
from ..forms_exports import AuditExportForm, SubjectAccessForm
from ..models import ExportJob

LIST_LENGTH = 50


@staff_required
@require_http_methods(["GET", "POST"])
def export_list(request):
    staff = request.staff
    grants = live_grants_for(staff).prefetch_related("settings").order_by("expires_at")
    audit_form = None
    subject_form = SubjectAccessForm(admin=staff) if staff.is_org_admin else None
    if request.method == "POST":
        kind = request.POST.get("kind")
        if kind == ExportJob.Kind.AUDIT_ZIP and staff.is_auditor:
            audit_form = form = AuditExportForm(request.POST, grants=grants)
        elif kind == ExportJob.Kind.SUBJECT_ACCESS and staff.is_org_admin:
            subject_form = form = SubjectAccessForm(request.POST, admin=staff)
        elif kind not in ExportJob.Kind.values and (staff.is_auditor or staff.is_org_admin):
            form = None
            messages.error(request, "Choose an export below.")
        else:
            raise PermissionDenied("Your role does not start this export.")
        if form is not None and form.is_valid():
            data = form.cleaned_data
            try:
                job = export_start(
                    actor=staff,
                    kind=kind,
                    grant=data.get("grant"),
                    subject=data.get("subject"),
                    reference=data.get("reference", ""),
                    request=request,
                )
            except ExportError as error:
                messages.error(request, str(error))
            else:
                return redirect("records:export-status", code=job.code)
    jobs = list(exports_of(staff)[:LIST_LENGTH])
    allowed = allowed_job_ids(staff, jobs)
    now = timezone.now()
    for job in jobs:
        job.reachable = job.pk in allowed
        job.expired = is_expired(job, now)
        job.about_me = job.kind == ExportJob.Kind.SUBJECT_ACCESS and job.subject_id == staff.pk
        job.released = is_released_to(staff, job)
        job.downloadable = job.reachable and job.released and not job.expired and job.status == ExportJob.Status.DONE
    context = {
        "jobs": jobs,
        "grants": list(grants),
        "audit_error": audit_form.errors.get("grant") if audit_form is not None else None,
        "subject_form": subject_form,
        "show_compliance_csv": staff.is_head_or_dsl,
    }
    return render(request, "records/export_list.html", context)


def _status_context(job: ExportJob, staff) -> dict:
    path = export_file(job)
    expired = is_expired(job)
    released = is_released_to(staff, job)
    return {
        "job": job,
        "path": path,
        "polling": job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING),
        "expired": expired,
        "released": released,
        "about_me": job.kind == ExportJob.Kind.SUBJECT_ACCESS and job.subject_id == staff.pk,
        "downloadable": released and path is not None and not expired,
        "size": path.stat().st_size if path is not None else None,
    }


@staff_required
@require_GET
def export_status(request, code):
    job = get_export_for_user(request.staff, code)
    context = _status_context(job, request.staff)
    if request.htmx:
        return render(request, "records/includes/export_status.html", context)
    return render(request, "records/export_status.html", context)


def _download_name(job: ExportJob) -> str:
    day = timezone.localdate(job.finished_at or job.created_at).isoformat()
    if job.kind == ExportJob.Kind.SUBJECT_ACCESS:
        return f"subject-access-{slugify(job.subject.full_name)[:60] or 'staff'}-{day}.zip"
    return f"signed-records-{day}-{str(job.code)[:8]}.zip"


@staff_required
@require_GET
def export_download(request, code):
    job = get_export_for_user(request.staff, code)
    if not is_released_to(request.staff, job):
        # A subject access export is the person's: whoever asked for it follows its progress, no more.
        raise Http404("No such export.")
    context = _status_context(job, request.staff)
    if context["expired"] or not context["downloadable"]:
        # The owner learns why; the page is the status page, answered with 404.
        return render(request, "records/export_status.html", {**context, "refused": True}, status=404)
    path = context["path"]
    record_download(actor=request.staff, job=job, request=request)
    response = FileResponse(
        path.open("rb"), as_attachment=True, filename=_download_name(job), content_type="application/zip"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store, private"
    return response
