from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import org_admin_required, staff_required
from accounts.models import Role

from .. import services
from ..access import (
    can_set_up_agreements,
    get_contract_for_user,
    require,
    supervisees_in_reach,
    supervisors_in_organisation,
)
from ..forms import (
    ChangeSupervisorForm,
    ContractEditForm,
    ContractForm,
    ContractSearchForm,
    ContractTemplateForm,
    EndContractForm,
    OverrideForm,
    SignForm,
)
from ..models import Contract, FrequencyOverride, Session, SessionStatus, SetupCheck
from ..rules import effective_frequency, frequency_wording
from ..setup import setup_check


def _apply_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


CONTRACT_PAGE_SIZE = 50
# The wording of an agreement is long (four texts) and not shown in the list: never loaded for it.
WORDING = ("purpose", "supervisor_responsibilities", "supervisee_responsibilities", "confidentiality_terms")


@staff_required
@require_GET
def contract_list(request):
    """Agreements the person may see, 50 a page, searched by a supervisee's or supervisor's name or email:
    a fixed number of queries and a page of rows, however many agreements the trust has."""
    staff = request.staff
    today = timezone.localdate()
    show = "all" if request.GET.get("show") == "all" else "current"
    form = ContractSearchForm(request.GET)
    qs = Contract.objects.visible_to(staff)
    if show == "current":
        qs = qs.filter(end_date__isnull=True)
    searched = ""
    if form.is_valid() and (searched := form.cleaned_data["q"].strip()):
        qs = qs.filter(
            Q(supervisee__user__full_name__icontains=searched)
            | Q(supervisee__user__email__icontains=searched)
            | Q(supervisor__user__full_name__icontains=searched)
            | Q(supervisor__user__email__icontains=searched)
        )
    qs = (
        qs.defer(*WORDING)
        .select_related("supervisee__user", "supervisor__user")
        .prefetch_related(Prefetch("overrides", queryset=FrequencyOverride.objects.filter(ends__gte=today)))
        .order_by("supervisee__user__full_name", "-start_date", "id")
    )
    page = Paginator(qs, CONTRACT_PAGE_SIZE).get_page(request.GET.get("page"))
    contracts = list(page.object_list)
    for c in contracts:
        c.status_today = c.status(today)
        c.frequency_today = effective_frequency(c, today, c.overrides.all())
        c.frequency_words = frequency_wording(c, today, c.overrides.all())
    query = urlencode({k: v for k, v in (("show", show), ("q", searched)) if v})
    return render(
        request,
        "supervision/contract_list.html",
        {
            "contracts": contracts,
            "page": page,
            "form": form,
            "searched": searched,
            "query": query,
            "show": show,
            "can_add": can_set_up_agreements(staff),
            "today": today,
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def contract_add(request):
    staff = request.staff
    require(can_set_up_agreements(staff), "Supervisors, heads, DSLs and organisation admins set up agreements.")
    organisation = staff.organisation
    template = services.contract_template_for(organisation)
    supervisees = supervisees_in_reach(staff)
    supervisors = supervisors_in_organisation(staff)
    initial = {
        "start_date": timezone.localdate(),
        "frequency": organisation.default_frequency,
        "session_minutes": organisation.default_session_minutes,
        "confidentiality_terms": template.confidentiality_terms,
        "supervisor": staff.id if staff.has_role(Role.SUPERVISOR) else None,
    }
    if request.GET.get("supervisee"):
        person = supervisees.filter(code=request.GET["supervisee"]).first()
        if person:
            initial["supervisee"] = person.id
            initial["supervisor"] = person.supervisor_id or initial["supervisor"]
    form = ContractForm(request.POST or None, supervisees=supervisees, supervisors=supervisors, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            contract = services.contract_create(
                actor=staff,
                supervisee=form.cleaned_data["supervisee"],
                supervisor=form.cleaned_data["supervisor"],
                start_date=form.cleaned_data["start_date"],
                frequency=form.cleaned_data["frequency"],
                session_minutes=form.cleaned_data["session_minutes"],
                venue=form.cleaned_data["venue"],
                confidentiality_terms=form.cleaned_data["confidentiality_terms"],
                request=request,
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "The agreement is ready for both of you to read and sign.")
            return redirect("supervision:contract-detail", code=contract.code)
    return render(request, "supervision/contract_form.html", {"form": form, "title": "New supervision agreement"})


@org_admin_required
@require_http_methods(["GET", "POST"])
def contract_template(request):
    organisation = request.staff.organisation
    template = services.contract_template_for(organisation)
    fields = ["purpose", "supervisor_responsibilities", "supervisee_responsibilities", "confidentiality_terms"]
    form = ContractTemplateForm(request.POST or None, initial={f: getattr(template, f) for f in fields})
    if request.method == "POST" and form.is_valid():
        services.contract_template_update(
            actor=request.staff, template=template, values={f: form.cleaned_data[f] for f in fields}, request=request
        )
        # Saving it, changed or not, is the admin's word that the wording is right (the setup checklist).
        setup_check(actor=request.staff, step=SetupCheck.Step.AGREEMENT_WORDING, request=request)
        messages.success(request, "Saved. New agreements use this wording; existing ones keep what was signed.")
        return redirect("supervision:contract-template")
    return render(request, "supervision/contract_template.html", {"form": form})


@staff_required
@require_GET
def contract_detail(request, code):
    staff = request.staff
    contract, can_manage = get_contract_for_user(staff, code)
    today = timezone.localdate()
    history = []
    previous = contract.previous
    while previous is not None and len(history) < 20:
        history.append(previous)
        previous = previous.previous
    sessions = (
        Session.objects.filter(contract=contract).exclude(status=SessionStatus.CANCELLED).order_by("-starts_at")[:10]
    )
    party = staff.id in (contract.supervisee_id, contract.supervisor_id)
    can_sign = (
        party
        and not contract.end_date
        and (
            (staff.id == contract.supervisee_id and not contract.supervisee_signed_at)
            or (staff.id == contract.supervisor_id and not contract.supervisor_signed_at)
        )
    )
    overrides = list(contract.overrides.select_related("created_by__user"))
    return render(
        request,
        "supervision/contract_detail.html",
        {
            "contract": contract,
            "status": contract.status(today),
            "frequency_today": effective_frequency(contract, today, overrides),
            "frequency_words": frequency_wording(contract, today, overrides),
            "overrides": overrides,
            "history": history,
            "next_contract": Contract.objects.filter(previous=contract).first(),
            "sessions": sessions,
            "can_manage": can_manage and not contract.end_date,
            "can_sign": can_sign,
            "sign_form": SignForm(submit="Sign the agreement", user=request.user) if can_sign else None,
            "content_hash": services.contract_content_hash(contract),
            "today": today,
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def contract_edit(request, code):
    contract, can_manage = get_contract_for_user(request.staff, code)
    require(can_manage and not contract.end_date, "Only the supervisor or the setting's leaders change an agreement.")
    fields = ["frequency", "session_minutes", "venue", "confidentiality_terms"]
    form = ContractEditForm(request.POST or None, initial={f: getattr(contract, f) for f in fields})
    if request.method == "POST" and form.is_valid():
        changed = services.contract_update(
            actor=request.staff, contract=contract, changes={f: form.cleaned_data[f] for f in fields}, request=request
        )
        if changed and contract.supervisee_signed_at is None:
            messages.warning(request, "Saved. The terms changed, so both of you sign again.")
        else:
            messages.success(request, "Saved." if changed else "Nothing had changed.")
        return redirect("supervision:contract-detail", code=contract.code)
    return render(
        request,
        "supervision/contract_form.html",
        {"form": form, "title": "Change the agreement", "contract": contract, "voids": contract.is_signed},
    )


@staff_required
@require_POST
def contract_sign_view(request, code):
    contract, _ = get_contract_for_user(request.staff, code)
    require(request.staff.id in (contract.supervisee_id, contract.supervisor_id), "Only the two parties sign.")
    form = SignForm(request.POST, submit="Sign the agreement", user=request.user)
    if form.is_valid():
        try:
            services.contract_sign(
                signer=request.staff, contract=contract, password=form.cleaned_data["password"], request=request
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            contract.refresh_from_db()
            if contract.is_signed:
                messages.success(request, "Signed. The agreement is now active.")
            else:
                messages.success(request, "Signed. The agreement becomes active when the other person signs.")
            return redirect("supervision:contract-detail", code=contract.code)
    messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("supervision:contract-detail", code=contract.code)


def _contract_action(request, code, *, refusal, title, make_form, run, success):
    """The agreement's form pages: someone who manages a running agreement fills in a form, the service
    runs, and the page goes back to the agreement `run` returns (a successor, when one was made)."""
    contract, can_manage = get_contract_for_user(request.staff, code)
    require(can_manage and not contract.end_date, refusal)
    form = make_form(contract, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            shown = run(contract, form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, success)
            return redirect("supervision:contract-detail", code=shown.code)
    return render(request, "supervision/contract_action.html", {"form": form, "contract": contract, "title": title})


@staff_required
@require_http_methods(["GET", "POST"])
def contract_override(request, code):
    def run(contract, data):
        services.override_add(actor=request.staff, contract=contract, request=request, **data)
        return contract

    return _contract_action(
        request, code,
        refusal="Only the supervisor or the setting's leaders change the frequency.",
        title="Raise the frequency",
        make_form=lambda contract, data: OverrideForm(data, initial={"starts": timezone.localdate()}),
        run=run,
        success="Supervision is more frequent until the override ends.",
    )  # fmt: skip


@staff_required
@require_http_methods(["GET", "POST"])
def contract_change_supervisor_view(request, code):
    def make_form(contract, data):
        excluded = [contract.supervisor, contract.supervisee]
        supervisors = supervisors_in_organisation(request.staff).exclude(pk__in=[p.pk for p in excluded])
        return ChangeSupervisorForm(
            data, supervisors=supervisors, exclude=excluded, initial={"on": timezone.localdate()}
        )

    return _contract_action(
        request, code,
        refusal="Only the supervisor or the setting's leaders change the supervisor.",
        title="Change supervisor",
        make_form=make_form,
        run=lambda contract, data: services.contract_change_supervisor(
            actor=request.staff, contract=contract, supervisor=data["supervisor"], on=data["on"], request=request
        ),
        success="The supervisor is changed: a new agreement is ready for both to sign.",
    )  # fmt: skip


@staff_required
@require_POST
def contract_renew_view(request, code):
    contract, can_manage = get_contract_for_user(request.staff, code)
    require(can_manage and not contract.end_date, "Only the supervisor or the setting's leaders review an agreement.")
    new = services.contract_renew(actor=request.staff, contract=contract, on=timezone.localdate(), request=request)
    messages.success(request, "Reviewed: the renewed agreement is ready for both to read and sign.")
    return redirect("supervision:contract-detail", code=new.code)


@staff_required
@require_http_methods(["GET", "POST"])
def contract_end_view(request, code):
    def run(contract, data):
        services.contract_end(actor=request.staff, contract=contract, request=request, **data)
        return contract

    return _contract_action(
        request, code,
        refusal="Only the supervisor or the setting's leaders end an agreement.",
        title="End the agreement",
        make_form=lambda contract, data: EndContractForm(data, initial={"end_date": timezone.localdate()}),
        run=run,
        success="The agreement has ended.",
    )  # fmt: skip
