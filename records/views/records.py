"""Writing, agreeing and signing a supervision record."""

import functools
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import staff_required
from accounts.models import StaffMember
from accounts.queries import InArray
from accounts.templatetags.dates import day
from supervision.access import get_session_for_user, require
from supervision.dashboard.scope import object_url
from supervision.models import InformalNote, Session, SessionKind

from .. import services
from ..access import PARTICIPANT, get_record_for_user
from ..forms import (
    PERSON_LABEL,
    ActionForm,
    AddendumForm,
    CommentForm,
    DecisionForm,
    FeedbackForm,
    FlagForm,
    PreviousActionForm,
    RationaleForm,
    ReviewForm,
    SectionForm,
    SignForm,
    SuperviseeSignForm,
    read_choices_once,
)
from ..late_files import SWEEP_EVERY, pdf_wait
from ..models import Action, ActionStatus, Addendum, Record, RecordStatus, SafeguardingDecision
from ..oversight import readings_of, record_viewed
from ..templatetags.record_status import status_badge_html

SIGN_HOW = (
    "Tick that you agree, and enter your password (or the code from your authenticator app, or confirm with "
    "your passkey first), to sign."
)


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


def _apply_errors(form, error: ValidationError) -> None:
    """A service's refusal beside the field it is about, or at the top of the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


def _back(record, anchor=""):
    return redirect(reverse("records:record-detail", kwargs={"code": record.code}) + anchor)


def _owners(record):
    """The people in the session: the ids of its attendance rows and its supervisor, then those people by
    primary key. A join ORed with the supervisor's id hashed every attendance of every organisation."""
    ids = (
        Session.attendees.through.objects.filter(session_id=record.session_id)
        .values("staffmember_id")
        .union(StaffMember.objects.filter(pk=record.supervisor_id).order_by().values("pk"))
    )
    return StaffMember.objects.filter(pk__in=ids).select_related("user")


def _people(record):
    """The current staff of the session's setting: its membership rows, then those people by primary key
    (a person is in a setting once, so no DISTINCT over the organisation's staff). The ids first
    (`InArray`): as `IN (subquery)` PostgreSQL hashed them against every person of the organisation, a
    scan of a 12,000-staff trust's people (3 ms) for a school's 120 (issue 14)."""
    members = StaffMember.settings.through.objects.filter(setting_id=record.session.setting_id)
    return (
        StaffMember.objects.filter(
            InArray("pk", members.values("staffmember_id")), organisation_id=record.organisation_id
        )
        .current()
        .select_related("user")
    )


SUPERVISOR, SUPERVISEE = ("supervisor",), ("supervisee",)


def record_post(capacities, refusal: str):
    """A POST view on one record: signed in, the record reachable (404 otherwise) in one of `capacities`
    (403 with `refusal` otherwise). The view receives the record in place of its code."""

    def decorate(view):
        @staff_required
        @require_POST
        @functools.wraps(view)
        def wrapped(request, code, **kwargs):
            record, capacity = get_record_for_user(request.staff, code)
            require(capacity in capacities, refusal)
            return view(request, record, **kwargs)

        return wrapped

    return decorate


@staff_required
@require_POST
def record_start_view(request, code):
    session, capacity = get_session_for_user(request.staff, code)
    require(capacity == "supervisor", "The supervisor writes the record.")
    try:
        record = services.record_start(actor=request.staff, session=session, request=request)
    except ValidationError as error:
        messages.error(request, _errors(error))
        return redirect("supervision:session-detail", code=session.code)
    return _back(record)


@staff_required
@require_GET
def record_list(request):
    staff = request.staff
    # The page's ids first, then their rows: with the joins for the names in the same query, PostgreSQL
    # joins every record of the organisation before it applies the person's few (past its collapse limit).
    ids = list(Record.objects.of_participant(staff).order_by("-session__starts_at").values_list("pk", flat=True)[:200])
    # Only what the rows show, as values: a page of 200 records built as seven joined models each, with
    # their links, days and badges worked out by the template, was two thirds of the page (issue 14).
    rows = (
        Record.objects.filter(pk__in=ids)
        .order_by("-session__starts_at")
        .values_list(
            "code",
            "status",
            "pdf_path",
            "supervisor_id",
            "supervisor__user__full_name",
            "session__starts_at",
            "session__group_id",
            "session__group__name",
            "session__contract__supervisee__user__full_name",
        )
    )
    written, mine = [], []
    for code, status, pdf_path, supervisor_id, supervisor, starts_at, group_id, group, supervisee in rows:
        row = ListedRecord(
            url=object_url("records:record-detail", code),
            pdf_url=object_url("records:record-pdf", code) if pdf_path else "",
            day=day(starts_at),
            status=status,
            badge=status_badge_html(status, group_id is not None),
            group=group or "",
            supervisor=supervisor,
            supervisee=supervisee or "",
        )
        (written if supervisor_id == staff.id else mine).append(row)
    return render(request, "records/record_list.html", {"written": written, "mine": mine})


@dataclass(frozen=True)
class ListedRecord:
    """A row of the records list: a group's record has the group's name and no supervisee."""

    url: str
    pdf_url: str  # "" while no signed PDF is stored
    day: str
    status: str
    badge: str
    group: str
    supervisor: str
    supervisee: str


def _metadata(request, record):
    """A head's or DSL's view without a reason: when, who, status, counts, signatures, safeguarding
    decisions and flags. Nothing of the notes reaches the template."""
    signatures = [s for s in record.signatures.select_related("signer__user") if s.addendum_id is None]
    context = {
        "record": record,
        "capacity": "overseer",
        "attendees": list(record.session.attendees.select_related("user")),
        "section_count": record.sections.count(),
        "action_count": record.actions.count(),
        "decisions": list(record.decisions.select_related("key_person__user")),
        "flags": list(record.flags.select_related("raised_by__user")),
        "signatures": signatures,
        "standing": [s for s in signatures if s.voided_at is None],
    }
    return render(request, "records/record_detail.html", context)


@staff_required
@require_GET
def record_detail(request, code):
    record, capacity = get_record_for_user(request.staff, code)
    if capacity == "overseer":
        return _metadata(request, record)
    return _detail(request, record, capacity)


def _sign_form(request, record, capacity, data=None):
    """The sign-off form: the supervisee's holds their end-of-session feedback too."""
    if capacity == "supervisee" and record.status == RecordStatus.AWAITING_SUPERVISEE:
        return SuperviseeSignForm(data, user=request.user, initial={"feedback": record.supervisee_feedback})
    return SignForm(data, user=request.user)


def _detail(request, record, capacity, *, sign_form=None):
    """The record's page; `sign_form` is a refused signature's form, shown again with its errors."""
    participant = capacity in PARTICIPANT
    # Every view of the notes is logged, whoever reads them, HTMX or not: a write that redirects here is
    # followed by a read, so the HTMX writes on this page answer without redirecting (no flood of views).
    record_viewed(viewer=request.staff, record=record, capacity=capacity, request=request)
    sections = list(record.sections.select_related("template_section"))
    actions = list(record.actions.select_related("owner__user", "section"))
    for section in sections:
        section.section_actions = [a for a in actions if a.section_id == section.id]
    signatures = list(record.signatures.select_related("signer__user", "addendum"))
    addenda = list(record.addenda.select_related("author__user"))
    for addendum in addenda:
        addendum.standing = [s for s in signatures if s.addendum_id == addendum.id and not s.voided_at]
        addendum.signed_by_me = any(s.signer_id == request.staff.id for s in addendum.standing)
    record_signatures = [s for s in signatures if s.addendum_id is None]
    standing = [s for s in record_signatures if s.voided_at is None]
    attendees = list(record.session.attendees.select_related("user"))
    decisions = list(record.decisions.select_related("key_person__user"))
    comments = list(record.comments.select_related("author__user"))
    # Names as the record was signed with them, the name now beside any that changed since.
    for person in [record.supervisor, *attendees, *(a.owner for a in actions), *(d.key_person for d in decisions),
                   *(c.author for c in comments)]:  # fmt: skip
        services.mark_name_as_signed(person, services.name_as_signed(record, person))
    for signature in signatures:
        services.mark_name_as_signed(signature.signer, signature.signer_name)
    for addendum in addenda:
        services.mark_name_as_signed(addendum.author, addendum.author_name)
    editable = capacity == "supervisor" and record.status == RecordStatus.DRAFT
    context = {
        "record": record,
        "capacity": capacity,
        "participant": participant,
        "can_download_pdf": capacity != "reader",
        "pdf_wait": pdf_wait(record) if capacity != "reader" else None,
        "sweep_minutes": int(SWEEP_EVERY.total_seconds() // 60),
        "editable": editable,
        "sections": sections,
        "loose_actions": [a for a in actions if a.section_id is None],
        "decisions": decisions,
        "flags": list(record.flags.select_related("raised_by__user")),
        "comments": comments,
        "signatures": record_signatures,
        "standing": standing,
        "addenda": addenda,
        "attendees": attendees,
        "signed_by_me": any(s.signer_id == request.staff.id for s in standing),
        "now": timezone.now(),
    }
    if editable:
        if record.previous_record_id:
            # The previous record's day, for the review's wording: read here, where it is shown, not joined
            # into every read of a record (two more tables were a third of that query's planning: issue 14).
            record.previous_record = Record.objects.select_related("session").get(pk=record.previous_record_id)
        context["previous_actions"] = (
            list(
                Action.objects.filter(record_id=record.previous_record_id)
                .filter(Q(status=ActionStatus.OPEN) | Q(reviewed_in=record))
                .select_related("owner__user")
            )
            if record.previous_record_id
            else []
        )
        context["agenda_items"] = list(record.session.agenda_items.select_related("added_by__user"))
        # A 1:1 only: informal notes about one person never reach a group record.
        context["revisited_notes"] = (
            list(InformalNote.objects.filter(revisited_in=record.session).select_related("recorded_by__user"))
            if record.session.kind == SessionKind.ONE_TO_ONE
            else []
        )
        action_form = ActionForm(owners=_owners(record), initial={"owner": attendees[0].id if attendees else None})
        # The template lists the owners under every section: read once here, not twice a section.
        read_choices_once(action_form.fields["owner"], label=PERSON_LABEL)
        context["action_form"] = action_form
        context["decision_form"] = DecisionForm(people=_people(record))
        read_choices_once(context["decision_form"].fields["key_person"], label=PERSON_LABEL)
        context["flag_form"] = FlagForm()
        context["rationale_form"] = RationaleForm(initial={"rationale": record.disagreement_rationale})
    waiting_for_me = (
        capacity == "supervisee" and record.status == RecordStatus.AWAITING_SUPERVISEE and not context["signed_by_me"]
    ) or (capacity == "supervisor" and record.status == RecordStatus.AWAITING_SUPERVISOR)
    context["waiting_for_me"] = waiting_for_me
    if waiting_for_me:
        context["sign_form"] = sign_form or _sign_form(request, record, capacity)
    if capacity == "supervisee" and record.status == RecordStatus.AWAITING_SUPERVISEE:
        context["comment_form"] = CommentForm()
    if record.status == RecordStatus.SIGNED and participant:
        context["addendum_form"] = AddendumForm()
        context["addendum_sign_form"] = SignForm(user=request.user)
        context["addendum_to_sign"] = any(not a.locked_at and not a.signed_by_me for a in context["addenda"])
    if participant:
        context["readings"] = readings_of(record)
    return render(request, "records/record_detail.html", context)


@record_post(SUPERVISOR, "Only the supervisor writes the record.")
def section_save_view(request, record, section_id):
    """Autosave (HTMX): returns a short status line; a plain POST returns to the record."""
    section = get_object_or_404(record.sections.select_related("template_section"), pk=section_id)
    form = SectionForm(request.POST)
    message, ok = "Not saved.", False
    if form.is_valid():
        try:
            services.section_save(actor=request.staff, section=section, discussion=form.cleaned_data["discussion"])
        except ValidationError as error:
            message = _errors(error)
        else:
            ok = True
            message = f"Saved at {timezone.localtime():%H:%M:%S}"
    if request.htmx:
        return render(
            request, "records/includes/save_status.html", {"message": message, "ok": ok}, status=200 if ok else 409
        )
    (messages.success if ok else messages.error)(request, message)
    return _back(record, f"#section-{section.id}")


def _run(request, record, call, success, anchor=""):
    try:
        call()
    except ValidationError as error:
        messages.error(request, _errors(error))
    else:
        if success:
            messages.success(request, success)
    return _back(record, anchor)


@record_post(SUPERVISOR, "Only the supervisor writes the record.")
def record_review_view(request, record):
    form = ReviewForm(request.POST)
    form.is_valid()
    if request.htmx:
        # The tick box saves in place, like a section: no redirect to the record, which is a logged read.
        message, ok = f"Saved at {timezone.localtime():%H:%M:%S}", True
        try:
            services.record_set_review(
                actor=request.staff, record=record,
                previous_notes_agreed=form.cleaned_data.get("previous_notes_agreed", False), request=request,
            )  # fmt: skip
        except ValidationError as error:
            message, ok = _errors(error), False
        return render(
            request, "records/includes/save_status.html", {"message": message, "ok": ok}, status=200 if ok else 409
        )
    return _run(
        request, record,
        lambda: services.record_set_review(actor=request.staff, record=record,
                                           previous_notes_agreed=form.cleaned_data.get("previous_notes_agreed", False)),
        "Saved.", "#review",
    )  # fmt: skip


@record_post(SUPERVISOR, "Only the supervisor writes the record.")
def action_add_view(request, record):
    form = ActionForm(request.POST, owners=_owners(record))
    if not form.is_valid():
        messages.error(request, "The action was not added: " + " ".join(e for es in form.errors.values() for e in es))
        return _back(record, "#actions")
    section = (
        record.sections.filter(pk=form.cleaned_data.get("section")).first()
        if form.cleaned_data.get("section")
        else None
    )
    return _run(
        request, record,
        lambda: services.action_add(actor=request.staff, record=record, section=section,
                                    description=form.cleaned_data["description"], owner=form.cleaned_data["owner"],
                                    due_date=form.cleaned_data["due_date"], request=request),
        "Action added.", f"#section-{section.id}" if section else "#actions",
    )  # fmt: skip


@record_post(SUPERVISOR, "Only the supervisor writes the record.")
def action_remove_view(request, record, action):
    item = get_object_or_404(record.actions, code=action)
    return _run(request, record, lambda: services.action_remove(actor=request.staff, action=item), "Action removed.")


@record_post(SUPERVISOR, "Only the supervisor writes the record.")
def previous_action_review_view(request, record, action):
    item = get_object_or_404(Action.objects.filter(record_id=record.previous_record_id), code=action)
    form = PreviousActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose done, carried forward or dropped.")
        return _back(record, "#review")
    return _run(
        request, record,
        lambda: services.previous_action_review(actor=request.staff, record=record, action=item,
                                                outcome=form.cleaned_data["outcome"], request=request),
        None, "#review",
    )  # fmt: skip


@record_post(SUPERVISOR, "Only the supervisor writes the record.")
def decision_add_view(request, record):
    form = DecisionForm(request.POST, people=_people(record))
    if not form.is_valid():
        messages.error(request, "The decision was not added: " + " ".join(e for es in form.errors.values() for e in es))
        return _back(record, "#decisions")
    return _run(
        request, record,
        lambda: services.decision_add(actor=request.staff, record=record, request=request, **form.cleaned_data),
        "Safeguarding decision recorded. The key person confirms it once it is on the child's file.", "#decisions",
    )  # fmt: skip


@record_post(SUPERVISOR, "Only the supervisor writes the record.")
def decision_remove_view(request, record, decision):
    item = get_object_or_404(SafeguardingDecision.objects.filter(record=record), code=decision)
    return _run(request, record, lambda: services.decision_remove(actor=request.staff, decision=item), "Removed.")


@record_post(SUPERVISOR, "Only the supervisor writes the record.")
def flag_raise_view(request, record):
    form = FlagForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what kind of issue it is.")
        return _back(record, "#flags")
    return _run(
        request, record,
        lambda: services.flag_raise(actor=request.staff, record=record, request=request, **form.cleaned_data),
        "Flag raised: the DSL and head have been told.", "#flags",
    )  # fmt: skip


@record_post(SUPERVISOR, "Only the supervisor writes the record.")
def record_rationale_view(request, record):
    form = RationaleForm(request.POST)
    form.is_valid()
    return _run(
        request, record,
        lambda: services.record_set_rationale(actor=request.staff, record=record,
                                              rationale=form.cleaned_data.get("rationale", ""), request=request),
        "Rationale saved.", "#comments",
    )  # fmt: skip


@record_post(SUPERVISOR, "Only the supervisor submits the record.")
def record_submit_view(request, record):
    return _run(
        request, record, lambda: services.record_submit(actor=request.staff, record=record, request=request),
        "Submitted: the supervisee reads it, then agrees and signs or comments.",
    )  # fmt: skip


@record_post(SUPERVISOR, "Only the supervisor revises the record.")
def record_reopen_view(request, record):
    return _run(
        request, record, lambda: services.record_reopen(actor=request.staff, record=record, request=request),
        "Back to draft to revise. Any signature given so far is void; submit again when ready.",
    )  # fmt: skip


@record_post(PARTICIPANT, "Only the people in the session sign its record.")
def record_sign_view(request, record):
    """A refused signature shows the page again (not a redirect): each error beside its field, a summary
    at the top that takes focus, and what was typed kept, the password apart."""
    capacity = "supervisor" if record.supervisor_id == request.staff.id else "supervisee"
    form = _sign_form(request, record, capacity, request.POST)
    if form.is_valid():
        try:
            services.record_sign(
                actor=request.staff, record=record, password=form.cleaned_data["password"],
                feedback=form.cleaned_data.get("feedback") if "feedback" in form.fields else None, request=request,
            )  # fmt: skip
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Signed.")
            return _back(record, "#sign")
    if not request.user.is_authenticated:
        # The failure that locked the account signed the person out.
        messages.error(request, _errors(ValidationError(form.errors.get("password", [SIGN_HOW]))))
        return redirect("accounts:login")
    form.retype_note()
    record, capacity = get_record_for_user(request.staff, record.code)
    if capacity not in PARTICIPANT or not (
        (capacity == "supervisee" and record.status == RecordStatus.AWAITING_SUPERVISEE)
        or (capacity == "supervisor" and record.status == RecordStatus.AWAITING_SUPERVISOR)
    ):
        # No longer waiting for this person (signed meanwhile, taken back): say why on the record.
        messages.error(request, " ".join(m for ms in form.errors.values() for m in ms) or SIGN_HOW)
        return _back(record, "#sign")
    return _detail(request, record, capacity, sign_form=form)


@record_post(SUPERVISEE, "Comments come from the people supervised.")
def record_comment_view(request, record):
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write your comment.")
        return _back(record, "#comment")
    return _run(
        request, record,
        lambda: services.record_comment(actor=request.staff, record=record, text=form.cleaned_data["text"],
                                        disagree=form.cleaned_data["disagree"], request=request),
        "Your comment is in the record, which has gone back to your supervisor.",
    )  # fmt: skip


@record_post(SUPERVISEE, "Feedback comes from the people supervised.")
def record_feedback_view(request, record):
    form = FeedbackForm(request.POST)
    form.is_valid()
    return _run(
        request, record,
        lambda: services.record_set_feedback(actor=request.staff, record=record,
                                             feedback=form.cleaned_data.get("feedback", ""), request=request),
        "Feedback saved.", "#feedback",
    )  # fmt: skip


@record_post(PARTICIPANT, "Only the people in the session add to its record.")
def addendum_add_view(request, record):
    form = AddendumForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the addendum.")
        return _back(record, "#addenda")
    return _run(
        request, record,
        lambda: services.addendum_add(actor=request.staff, record=record, text=form.cleaned_data["text"],
                                      request=request),
        "Addendum added: everyone who signed the record signs it too.", "#addenda",
    )  # fmt: skip


@record_post(PARTICIPANT, "Only the people in the session sign its addenda.")
def addendum_sign_view(request, record, addendum):
    item = get_object_or_404(Addendum.objects.filter(record=record), code=addendum)
    form = SignForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, SIGN_HOW)
        return _back(record, "#addenda")
    return _run(
        request, record,
        lambda: services.addendum_sign(actor=request.staff, addendum=item, password=form.cleaned_data["password"],
                                       request=request),
        "Addendum signed.", "#addenda",
    )  # fmt: skip
