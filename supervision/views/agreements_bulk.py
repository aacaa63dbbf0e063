"""Agreements for everyone: the confirmation page, and the run's progress (supervision/bulk_agreements.py)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import org_admin_required

from ..bulk_agreements import agreements_run, agreements_start, get_run_for_admin, plan
from ..models import AgreementRun


@org_admin_required
@require_http_methods(["GET", "POST"])
def contract_bulk(request):
    admin = request.staff
    if request.method == "POST":
        run = agreements_start(actor=admin)
        if run is None:
            messages.info(request, "Everyone with a supervisor already has an agreement: there was nothing to make.")
            return redirect("supervision:contract-bulk")
        if not run.in_background and run.status == AgreementRun.Status.QUEUED:
            agreements_run(run.id)
        return redirect("supervision:contract-bulk-status", code=run.code)
    under_way = (
        AgreementRun.objects.filter(organisation_id=admin.organisation_id, status__in=AgreementRun.UNDER_WAY)
        .order_by("-created_at")
        .first()
    )
    context = {
        "plan": plan(admin),
        "under_way": under_way,
        "last": AgreementRun.objects.filter(organisation_id=admin.organisation_id).order_by("-created_at").first(),
    }
    return render(request, "supervision/contract_bulk.html", context)


@org_admin_required
@require_GET
def contract_bulk_status(request, code):
    run = get_run_for_admin(request.staff, code)
    context = {"run": run, "polling": run.is_under_way}
    if request.htmx:
        return render(request, "supervision/includes/bulk_status.html", context)
    return render(request, "supervision/contract_bulk_status.html", context)
