"""A large staff import followed as it runs: its page, the small status the page polls, and running a
stopped one again. Only the admin who started an import reaches it; anyone else's is not found."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from .access import org_admin_required
from .import_jobs import staff_import_job_retry
from .models import StaffImportJob


def _job_for(request, code) -> StaffImportJob:
    return get_object_or_404(
        StaffImportJob.objects.select_related("requested_by__user"),
        code=code,
        organisation=request.staff.organisation,
        requested_by=request.staff,
    )


def _context(job: StaffImportJob) -> dict:
    return {"job": job, "polling": job.status in (StaffImportJob.Status.QUEUED, StaffImportJob.Status.RUNNING)}


@org_admin_required
@require_GET
def staff_import_job(request, code):
    job = _job_for(request, code)
    return render(request, "accounts/staff_import_job.html", _context(job))


@org_admin_required
@require_GET
def staff_import_job_status(request, code):
    """The progress alone, for the page to poll (HTMX) every second while the job runs."""
    job = _job_for(request, code)
    return render(request, "accounts/includes/staff_import_job_status.html", _context(job))


@org_admin_required
@require_POST
def staff_import_job_retry_view(request, code):
    job = _job_for(request, code)
    if staff_import_job_retry(actor=request.staff, job=job, request=request):
        messages.success(request, "The import is queued again: rows already saved are kept and not written twice.")
    else:
        messages.info(request, "This import is finished or still running: there is nothing to run again.")
    return redirect("accounts:staff-import-job", code=job.code)
