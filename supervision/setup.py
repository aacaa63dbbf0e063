"""Starting an organisation from nothing, and the checklist its first admin works through (issue 15).

`organisation_create` is what `manage.py create_organisation` runs for the installation's operator: the
organisation, the England calendar for this academic year and the next, and its first organisation admin,
invited by email. `setup_checklist` is the list on an organisation-wide admin's home until every step
is done. It reads across apps (accounts, supervision, records) and says so here; its cost is two
queries whatever the number of staff.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.audit import audit_event
from accounts.models import Organisation, Role, RoleAssignment, Setting, StaffMember, User
from accounts.services import StaffData, staff_create, staff_invite
from accounts.validators import control_character_problem
from records.models import RecordTemplate

from .models import Contract, Session, SessionKind, SessionStatus, SetupCheck
from .services import ensure_calendar

NAME_MAX = 200
WORKING_WEEK = (0, 1, 2, 3, 4)


@dataclass
class Created:
    organisation: Organisation
    admin: StaffMember
    created: bool  # False: both were there already (a second run of the command)


def _clean_name(name: str, field: str, what: str) -> str:
    problem = control_character_problem(name or "")
    if problem:
        raise ValidationError({field: problem})
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({field: f"Give the {what}."})
    if len(name) > NAME_MAX:
        raise ValidationError({field: f"Keep the {what} to {NAME_MAX} characters."})
    return name


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not email:
        raise ValidationError({"admin_email": "Give the first admin's email address."})
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"admin_email": f"“{email}” is not an email address."}) from None
    return email


def _name_from_email(email: str) -> str:
    local = email.split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.replace("_", ".").replace("-", ".").split(".") if part)


def _existing(name: str, email: str) -> Created | None:
    """The organisation and admin a previous run made, or None when neither exists; a ValidationError
    when the name or the email is taken by something else."""
    staff = StaffMember.objects.select_related("user", "organisation").filter(user__email__iexact=email).first()
    if staff is not None:
        if staff.organisation.name.lower() == name.lower() and staff.has_role(Role.ORG_ADMIN):
            return Created(staff.organisation, staff, created=False)
        raise ValidationError(
            {"admin_email": f"{email} is already used by someone in {staff.organisation.name}: choose another address."}
        )
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"admin_email": f"{email} is already used by an account: choose another address."})
    taken = Organisation.objects.filter(name__iexact=name).first()
    if taken is not None:
        raise ValidationError(
            {
                "name": f"An organisation called {taken.name} already exists, with another first admin: "
                "choose another name."
            }
        )
    return None


def organisation_create(*, name: str, admin_email: str, admin_name: str = "", today=None) -> Created:
    """Create the organisation, its calendar and its first admin, and queue the admin's invitation.

    Running it again with the same name and email changes nothing and returns what is there
    (`created=False`). Two runs at once cannot make two: the admin's email is unique, so the second
    run's transaction fails and finds the first one's organisation instead.
    """
    name = _clean_name(name, "name", "organisation's name")
    email = _clean_email(admin_email)
    admin_name = _clean_name(admin_name, "admin_name", "first admin's name") if admin_name else _name_from_email(email)
    found = _existing(name, email)
    if found is not None:
        return found
    today = today or timezone.localdate()
    try:
        with transaction.atomic():
            organisation = Organisation.objects.create(name=name)
            audit_event(
                action="organisation.created",
                organisation=organisation,
                obj=organisation,
                details={"name": name, "admin_email": email, "by": "manage.py create_organisation"},
            )
            ensure_calendar(organisation, today)
            admin = staff_create(
                actor=None,
                organisation=organisation,
                data=StaffData(
                    full_name=admin_name,
                    email=email,
                    job_title="Organisation admin",
                    employment_type="permanent",
                    start_date=today,
                    settings=[],
                    working_days=dict.fromkeys(WORKING_WEEK, (None, None)),
                    roles=[(Role.ORG_ADMIN, None)],
                ),
            )
            staff_invite(actor=None, staff=admin)
    except IntegrityError:
        found = _existing(name, email)
        if found is None:
            raise
        return found
    return Created(organisation, admin, created=True)


def organisation_resend_invitation(*, admin: StaffMember) -> None:
    """A new invitation for a first admin who has not accepted the first (ValidationError once they have)."""
    staff_invite(actor=None, staff=admin)


# --- The checklist ---------------------------------------------------------------------------------


@transaction.atomic
def setup_check(*, actor: StaffMember, step: str, request=None) -> SetupCheck:
    """Record that an organisation admin checked a step (the term dates, say); audited each time."""
    check, created = SetupCheck.objects.update_or_create(
        organisation_id=actor.organisation_id,
        step=step,
        defaults={"checked_by": actor, "checked_at": timezone.now()},
    )
    audit_event(
        action="setup.checked",
        actor=actor.user,
        organisation=actor.organisation,
        request=request,
        details={"step": step, "label": SetupCheck.Step(step).label, "first_time": created},
    )
    return check


@dataclass
class Step:
    key: str
    title: str
    done: bool
    text: str
    url: str
    link: str


@dataclass
class Checklist:
    steps: list[Step]

    @property
    def done(self) -> int:
        return sum(step.done for step in self.steps)

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def complete(self) -> bool:
        return self.done == self.total


def _url(*names: str) -> str:
    """The first of the URL names that exists: a page another piece of work adds is linked once it is there."""
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    raise NoReverseMatch(names[-1])


def setup_checklist(organisation: Organisation) -> Checklist:
    """Each step done or not, worked out from the organisation's data in two queries."""
    today = timezone.localdate()
    checks = SetupCheck.objects.filter(organisation=OuterRef("pk"))
    flags = (
        Organisation.objects.filter(pk=organisation.pk)
        .annotate(
            has_settings=Exists(Setting.objects.filter(organisation=OuterRef("pk"), closed_on__isnull=True)),
            terms_checked=Exists(checks.filter(step=SetupCheck.Step.TERM_DATES)),
            wording_checked=Exists(checks.filter(step=SetupCheck.Step.AGREEMENT_WORDING)),
            forms_checked=Exists(checks.filter(step=SetupCheck.Step.RECORD_FORMS)),
            has_forms=Exists(RecordTemplate.objects.filter(organisation=OuterRef("pk"), is_active=True)),
            has_agreements=Exists(
                Contract.objects.filter(organisation=OuterRef("pk"), kind=SessionKind.ONE_TO_ONE, end_date__isnull=True)
            ),
            has_sessions=Exists(
                Session.objects.filter(organisation=OuterRef("pk")).exclude(status=SessionStatus.CANCELLED)
            ),
        )
        .values(
            "has_settings", "terms_checked", "wording_checked", "forms_checked", "has_forms", "has_agreements",
            "has_sessions",
        )
        .get()
    )  # fmt: skip
    # Admins, people with a current 1:1 agreement and the organisation's leavers as three sets hashed once
    # (uncorrelated IN), not an EXISTS probe a person: the whole organisation's staff is counted on every
    # admin's home. "Waiting" is `needs_agreement` with the supervisor's leaving date read from the set of
    # leavers (a supervisor is always one of the organisation's staff: the forms and the import choose from
    # them), not from a join of every person to their supervisor: 18 ms for a trust of 12,000, now 9.
    admins = RoleAssignment.objects.filter(role=Role.ORG_ADMIN).values("staff_id")
    agreed = Contract.objects.filter(kind=SessionKind.ONE_TO_ONE, end_date__isnull=True).values("supervisee_id")
    leavers = StaffMember.objects.filter(organisation=organisation, leaving_date__lt=today).values("id")
    people = (
        StaffMember.objects.filter(organisation=organisation)
        .current(today)
        .annotate(
            is_admin=ExpressionWrapper(Q(pk__in=admins), output_field=BooleanField()),
            has_agreement=ExpressionWrapper(Q(pk__in=agreed), output_field=BooleanField()),
            supervisor_left=ExpressionWrapper(Q(supervisor_id__in=leavers), output_field=BooleanField()),
        )
        .aggregate(
            staff=Count("id", filter=Q(is_admin=False)),
            supervised=Count("id", filter=Q(supervisor__isnull=False)),
            unsupervised=Count("id", filter=Q(supervisor__isnull=True, is_admin=False)),
            waiting=Count("id", filter=Q(supervisor__isnull=False, has_agreement=False, supervisor_left=False)),
        )
    )
    staff, supervised, unsupervised, waiting = (
        people["staff"], people["supervised"], people["unsupervised"], people["waiting"],
    )  # fmt: skip
    steps = [
        Step(
            "settings",
            "Settings and their school day",
            flags["has_settings"],
            "Add each school, nursery or site, with the times its day starts and ends: sessions are booked "
            "inside them.",
            _url("accounts:setting-list", "accounts:staff-list"),
            "Settings",
        ),
        Step(
            "term_dates",
            "Term dates checked",
            flags["terms_checked"],
            "The default calendar for England is in place: check its half terms, add your INSET days, then say so.",
            reverse("supervision:terms"),
            "School calendar",
        ),
        Step(
            "agreement_wording",
            "Agreement wording",
            flags["wording_checked"],
            "Read the wording every supervision agreement starts from, change what you need, and save it.",
            reverse("supervision:contract-template"),
            "Agreement wording",
        ),
        Step(
            "record_forms",
            "Record forms",
            flags["forms_checked"] and flags["has_forms"],
            "Choose the form each setting records 1:1 sessions on (the built-in forms are ready), and save.",
            reverse("records:template-defaults"),
            "Record forms",
        ),
        Step(
            "staff",
            "Staff imported",
            staff > 0,
            f"{staff} member{'s' if staff != 1 else ''} of staff so far. Import them from your HR or MIS export.",
            reverse("accounts:staff-import"),
            "Import staff",
        ),
        Step(
            "supervisors",
            "Supervisors given",
            supervised > 0,
            f"{supervised} {'people have' if supervised != 1 else 'person has'} a supervisor; "
            f"{unsupervised} without one. Give supervisors in the import file or on each person's page.",
            reverse("accounts:staff-list"),
            "Staff",
        ),
        Step(
            "agreements",
            "Agreements sent for signature",
            flags["has_agreements"] and waiting == 0,
            f"{waiting} {'people' if waiting != 1 else 'person'} with a supervisor and no agreement yet: "
            "make them all at once, and each pair is asked to sign.",
            reverse("supervision:contract-bulk"),
            "Agreements for everyone",
        ),
        Step(
            "first_half_term",
            "First half term planned",
            flags["has_sessions"],
            "Supervisors plan their half term of sessions; you can plan for a setting too.",
            reverse("supervision:planner"),
            "Half-term planner",
        ),
    ]
    return Checklist(steps)
