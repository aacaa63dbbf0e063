"""The expected permission table: one row per URL name of the project.

`tests/test_permission_matrix.py` walks every URL pattern and checks each against this table, for
every person of the shared cast and for an anonymous visitor. A URL with no row fails the suite, so
a new view cannot ship without someone deciding who may reach it. Later issues add their rows here.

A row says:
- `kind`: what the URL's arguments point at (a key of `ARGUMENTS`), or None for no arguments;
- `methods`: the HTTP methods the view accepts (any other of GET and POST must answer 405);
- `expect`: per person (and "anonymous"), either one outcome for every case, or a dict of
  case -> outcome. Cases, from the person's point of view:
    "own":     an object inside the person's reach (their own record, their own reset link);
    "other":   another object of the person's organisation (outside their reach, where that exists);
    "foreign": an object of the other organisation.
"""

from dataclasses import dataclass

from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

# Outcomes
OK = "ok"  # 2xx, or a 3xx that is not a redirect to the sign-in page
LOGIN = "login"  # redirect to the sign-in page, asking to come back
FORBIDDEN = "403"
NOT_FOUND = "404"

ANONYMOUS = "anonymous"
CAST_PEOPLE = (
    "supervisee", "supervisee2", "supervisor", "supervisor2", "dsl", "head", "auditor", "org_admin", "outsider",
)  # fmt: skip
# The insiders the attacks of issue 11 need, made by `build_matrix_cast`. Unless a row names them, each
# expects what the person named here expects: holding a second role, or having left, must not widen
# anyone's reach.
INSIDERS = {
    "admin_supervisor": "org_admin",  # an organisation admin who also supervises in the primary school
    "expired_auditor": "auditor",  # an auditor whose grant has expired
    "setting_auditor": "auditor",  # an auditor of the secondary school only, with a live grant there
    "leaver": ANONYMOUS,  # a supervisor of the primary school who left yesterday: signed out at once
    "group_member": None,  # a member of the primary school's group and nothing else: the row's default
}
PEOPLE = (*CAST_PEOPLE, *INSIDERS)
EVERYONE = (ANONYMOUS, *PEOPLE)
NO_CASE = "-"

GET = ("GET",)
POST = ("POST",)
GET_POST = ("GET", "POST")


@dataclass(frozen=True)
class Row:
    kind: str | None
    methods: tuple[str, ...]
    expect: dict
    # Where POST is allowed to fewer people than GET (a page some may read but not change).
    post_expect: dict | None = None

    def outcome(self, person: str, case: str, method: str = "GET") -> str:
        table = self.post_expect if method == "POST" and self.post_expect is not None else self.expect
        expected = table[person]
        return expected[case] if isinstance(expected, dict) else expected


def expect(default: str | dict, **people) -> dict:
    """Everyone gets `default` unless named: expect(FORBIDDEN, anonymous=LOGIN, org_admin=OK). An insider
    not named gets what the person they are like gets (`INSIDERS`)."""
    unknown = set(people) - set(EVERYONE)
    assert not unknown, f"not in the cast: {unknown}"
    outcomes = {person: people.get(person, default) for person in EVERYONE}
    for insider, like in INSIDERS.items():
        if insider not in people and like is not None:
            outcomes[insider] = outcomes[like]
    return outcomes


def build_matrix_cast():
    """The shared cast, and the insiders of `INSIDERS`."""
    from datetime import date, timedelta

    from django.utils import timezone

    from accounts.models import Role
    from tests.conftest import build_cast
    from tests.factories import StaffFactory

    cast = build_cast()

    def person(key, name, roles=(), **kwargs):
        return StaffFactory(
            organisation=cast.organisation, user__email=f"{key}@cast.example", user__full_name=name,
            settings=[cast.primary], roles=list(roles), **kwargs,
        )  # fmt: skip

    cast.admin_supervisor = person(
        "admin-supervisor", "Abe Admin", [(Role.ORG_ADMIN, None), (Role.SUPERVISOR, cast.primary)]
    )
    cast.expired_auditor = person("expired-auditor", "Eve Expired", [(Role.AUDITOR, None)])
    cast.setting_auditor = person("setting-auditor", "Stu Setting", [(Role.AUDITOR, cast.secondary)])
    cast.leaver = person(
        "leaver", "Lee Leaver", [(Role.SUPERVISOR, cast.primary)], leaving_date=timezone.localdate() - timedelta(days=1)
    )
    cast.group_member = person("group-member", "Gus Member")

    from records.models import AuditorGrant
    from records.oversight import auditor_grant_approve, auditor_grant_create

    def grant(auditor, settings, approver):
        made = auditor_grant_create(
            actor=cast.org_admin, auditor=auditor, settings=settings, covers_from=date(2020, 1, 1),
            covers_until=date(2030, 1, 1), expires_at=timezone.now() + timedelta(days=30), purpose="Inspection",
        )  # fmt: skip
        return auditor_grant_approve(actor=approver, grant=made)

    expired = grant(cast.expired_auditor, [cast.primary], cast.head)
    AuditorGrant.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    # No head or DSL of the secondary school in the cast: the second organisation admin approves.
    grant(cast.setting_auditor, [cast.secondary], cast.admin_supervisor)
    return cast


# Arguments, by object kind: fn(cast, person, case) -> URL kwargs. `person` is None for anonymous.


def _home_of(cast, person):
    return cast.other_organisation if person is not None and person == cast.outsider else cast.organisation


def staff_args(cast, person, case):
    """own: the person's own record; other: someone else in their organisation; foreign: the other's."""
    mine = _home_of(cast, person) == cast.organisation
    if case == "own":
        staff = person if person is not None else cast.supervisee
    elif case == "other":
        staff = cast.supervisee2 if mine else cast.outsider_staff
    else:
        staff = cast.outsider_staff if mine else cast.supervisee
    return {"code": staff.code}


def token_args(cast, person, case):
    """A real password-reset (or invitation) token for the person; anonymous uses the supervisee's."""
    user = (person or cast.supervisee).user
    return {"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)}


# Supervision objects. One small world per test: for people of the cast's organisation, "own" is the
# object of the primary school's pair (supervisee with supervisor), "other" the secondary school's
# (supervisee2 with supervisor2) and "foreign" the other organisation's (outsider_staff with outsider).
# For the outsider, "own" and "other" are their organisation's object and "foreign" the cast's.


def world(cast):
    if getattr(cast, "_world", None) is None:
        cast._world = _build_world(cast)
    return cast._world


def _build_world(cast):
    from datetime import datetime, time, timedelta

    from django.utils import timezone

    from accounts.models import StaffMember
    from supervision import services
    from supervision.models import ClosureDay, Contract, HalfTerm
    from supervision.slots import LONDON
    from tests.factories import StaffFactory

    day = timezone.localdate() + timedelta(days=14)
    day += timedelta(days=(7 - day.weekday()) % 7)  # a Monday, a fortnight or so ahead
    starts_at = datetime.combine(day, time(10, 0), tzinfo=LONDON)

    def contract(supervisee, supervisor):
        c = services.contract_create(
            actor=supervisor, supervisee=supervisee, supervisor=supervisor, start_date=timezone.localdate()
        )
        now = timezone.now()
        Contract.objects.filter(pk=c.pk).update(supervisee_signed_at=now, supervisor_signed_at=now)
        c.refresh_from_db()
        return c

    def session(c):
        return services.session_book(
            actor=c.supervisor, contract=c, starts_at=starts_at, minutes=30, check=False, send=False
        )

    w = {}
    for key, supervisee, supervisor, org in (
        ("own", cast.supervisee, cast.supervisor, cast.organisation),
        ("other", cast.supervisee2, cast.supervisor2, cast.organisation),
        ("foreign", cast.outsider_staff, cast.outsider, cast.other_organisation),
    ):
        c = contract(supervisee, supervisor)
        s = session(c)
        item = services.agenda_add(actor=supervisee, session=s, text="Something to talk about")
        extra = StaffFactory(organisation=org, settings=list(supervisee.settings.all()))
        leader = cast.dsl if key == "own" else supervisor
        members = [cast.supervisee, cast.supervisor] if key == "own" else [supervisee, extra]
        if key == "own" and getattr(cast, "group_member", None):
            members.append(cast.group_member)
        group = services.group_create(
            actor=leader, name=f"Group {key}", setting=supervisee.settings.first(), supervisor=leader,
            members=members, confidentiality_boundaries="Stays in the room.",
        )  # fmt: skip
        services.ensure_calendar(org)
        closure, _ = ClosureDay.objects.get_or_create(organisation=org, date=day + timedelta(days=1), name="INSET")
        records = _records(c, supervisee, supervisor)
        w[key] = {
            **records,
            "contract": c,
            "session": s,
            "item": item,
            "group": group,
            "half_term": HalfTerm.objects.filter(organisation=org).first(),
            "closure": closure,
        }
    assert StaffMember.objects.exists()
    return w


def _records(contract, supervisee, supervisor):
    """A signed record with an addendum and an action, then the next session's draft with a decision and a flag."""
    from datetime import datetime, time, timedelta

    from django.utils import timezone

    from records import services as records
    from records.builtin import ensure_builtin_templates
    from supervision import services
    from supervision.slots import LONDON
    from tests.factories import PASSWORD

    def past(days):
        day = timezone.localdate() - timedelta(days=days)
        return services.session_book(
            actor=supervisor, contract=contract, starts_at=datetime.combine(day, time(10), tzinfo=LONDON),
            minutes=30, check=False, send=False,
        )  # fmt: skip

    due = timezone.localdate() + timedelta(days=7)
    signed = records.record_start(actor=supervisor, session=past(4))
    records.section_save(actor=supervisor, section=signed.sections.first(), discussion="Notes of the first session.")
    earlier_action = records.action_add(
        actor=supervisor, record=signed, description="Read the policy", owner=supervisee, due_date=due
    )
    records.record_submit(actor=supervisor, record=signed)
    records.record_sign(actor=supervisee, record=signed, password=PASSWORD)
    records.record_sign(actor=supervisor, record=signed, password=PASSWORD)
    addendum = records.addendum_add(actor=supervisor, record=signed, text="A date corrected.")
    draft = records.record_start(actor=supervisor, session=past(2))
    action = records.action_add(
        actor=supervisor, record=draft, description="Book training", owner=supervisee, due_date=due
    )
    decision = records.decision_add(
        actor=supervisor, record=draft, child_reference="CP-1", decision="Refer to early help", key_person=supervisee
    )
    flag = records.flag_raise(actor=supervisor, record=draft, kind="harm", note="See the DSL")
    return {
        "record": draft,
        "signed_record": signed,
        "addendum": addendum,
        "action": action,
        "earlier_action": earlier_action,
        "decision": decision,
        "flag": flag,
        "section": draft.sections.first(),
        "template": ensure_builtin_templates(contract.organisation)["kcc-1-1"],
    }


def _world_object(cast, person, case, name):
    if person is not None and person == cast.outsider:
        return world(cast)["own" if case == "foreign" else "foreign"][name]
    return world(cast)[case][name]


def object_args(name):
    def args(cast, person, case):
        return {"code": _world_object(cast, person, case, name).code}

    return args


def nested_args(parent, child, key):
    """URL arguments for an object inside a record: the record's code and the object's key."""

    def args(cast, person, case):
        record = _world_object(cast, person, case, parent)
        item = _world_object(cast, person, case, child)
        return {"code": record.code, key: item.id if key.endswith("_id") else item.code}

    return args


def agenda_item_args(cast, person, case):
    item = _world_object(cast, person, case, "item")
    return {"code": item.session.code, "item_id": item.id}


def feed_args(cast, person, case):
    """The person's own private feed token (anonymous: the supervisee's): the token is the key."""
    from supervision import services

    return {"token": services.feed_renew(staff=person or cast.supervisee).token}


def notification_args(cast, person, case):
    """own: a notification of the person's; other: someone else's in their organisation; foreign: another's."""
    from supervision.notify import notify

    me = person or cast.supervisee
    if case == "own":
        recipient = me
    elif case == "other":
        recipient = cast.head if me != cast.head else cast.dsl
        if me == cast.outsider:
            recipient = cast.outsider_staff
    else:
        recipient = cast.supervisee if me == cast.outsider else cast.outsider_staff
    notification = notify(
        recipient=recipient, kind="action_due", object_type="test", object_code=case, period=str(me.id),
        title="Test", body="Test", url="/",
    )  # fmt: skip
    return {"code": notification.code}


def grant_args(cast, person, case):
    from datetime import date, timedelta

    from django.utils import timezone

    from records.models import AuditorGrant
    from records.oversight import auditor_grant_create

    mine = person is None or person != cast.outsider
    if (case == "own") == mine:
        # Awaiting a second person's approval (a head or DSL of the primary school may give it).
        grant = auditor_grant_create(
            actor=cast.org_admin, auditor=cast.auditor, settings=[cast.primary], covers_from=date(2020, 1, 1),
            covers_until=date(2030, 1, 1), expires_at=timezone.now() + timedelta(days=30), purpose="Inspection",
        )  # fmt: skip
        return {"code": grant.code}
    # The other organisation's outsider holds every role, and nobody grants themself access: made directly.
    grant = AuditorGrant.objects.create(
        organisation=cast.other_organisation, auditor=cast.outsider, covers_from=date(2020, 1, 1),
        covers_until=date(2030, 1, 1), expires_at=timezone.now() + timedelta(days=30), purpose="Inspection",
        granted_by=cast.outsider,
    )  # fmt: skip
    grant.settings.set([cast.other_setting])
    return {"code": grant.code}


def export_args(cast, person, case):
    """A finished export. own: one inside the person's reach. For an auditor, their export of a live
    grant; for an organisation admin (the outsider is the other organisation's), a subject access export
    they asked for about someone they manage, which they follow but whose file is not theirs; for anyone
    else, a subject access export about them that their organisation's admin asked for (issue 11: it is
    released to the person it is about). other: an export about someone else of the organisation, or
    for an admin an auditor's; foreign: one of the other organisation."""
    from datetime import timedelta
    from pathlib import Path

    from django.conf import settings
    from django.utils import timezone

    from records.models import ExportJob
    from records.oversight import auditor_grant_approve, auditor_grant_create

    def job(owner, subject=None, grant=None):
        now = timezone.now()
        j = ExportJob.objects.create(
            organisation_id=owner.organisation_id, requested_by=owner, subject=subject, grant=grant,
            kind="audit_zip" if grant else "subject_access", status="done", total=1, done=1,
            finished_at=now, expires_at=now + timedelta(days=7),
        )  # fmt: skip
        j.file_path = f"exports/{owner.organisation.code}/{j.code}.zip"
        path = Path(settings.PRIVATE_ROOT) / j.file_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty ZIP
        ExportJob.objects.filter(pk=j.pk).update(file_path=j.file_path)
        return j

    def audit_job():
        today = timezone.localdate()
        grant = auditor_grant_create(
            actor=cast.org_admin, auditor=cast.auditor, settings=[cast.primary], covers_from=today - timedelta(days=30),
            covers_until=today, expires_at=timezone.now() + timedelta(days=1), purpose="Inspection",
        )  # fmt: skip
        auditor_grant_approve(actor=cast.head, grant=grant)  # the second person
        return job(cast.auditor, grant=grant)

    staff = person or cast.supervisee
    if case == "own":
        if staff == cast.auditor:
            return {"code": audit_job().code}
        if staff in (cast.org_admin, getattr(cast, "admin_supervisor", None)):
            return {"code": job(staff, subject=cast.supervisee).code}
        if staff == cast.outsider:
            return {"code": job(staff, subject=cast.outsider_staff).code}
        return {"code": job(cast.org_admin, subject=staff).code}
    if case == "other":
        if staff == cast.outsider:
            return {"code": job(cast.outsider_staff, subject=cast.outsider_staff).code}
        if staff in (cast.org_admin, getattr(cast, "admin_supervisor", None)):
            return {"code": audit_job().code}
        someone = cast.supervisee2 if staff != cast.supervisee2 else cast.supervisee
        return {"code": job(cast.org_admin, subject=someone).code}
    if staff == cast.outsider:
        return {"code": job(cast.org_admin, subject=cast.supervisee).code}
    return {"code": job(cast.outsider, subject=cast.outsider_staff).code}


ARGUMENTS = {
    "figure": lambda cast, person, case: {"figure": "overdue"},
    "notification": notification_args,
    "grant": grant_args,
    "export": export_args,
    "staff": staff_args,
    "uidb64/token": token_args,
    "contract": object_args("contract"),
    "session": object_args("session"),
    "group": object_args("group"),
    "half_term": object_args("half_term"),
    "closure": object_args("closure"),
    "agenda_item": agenda_item_args,
    "feed": feed_args,
    "record": object_args("record"),
    "signed_record": object_args("signed_record"),
    "section": nested_args("record", "section", "section_id"),
    "record_action": nested_args("record", "action", "action"),
    "previous_action": nested_args("record", "earlier_action", "action"),
    "record_decision": nested_args("record", "decision", "decision"),
    "addendum": nested_args("signed_record", "addendum", "addendum"),
    "action": object_args("action"),
    "decision": object_args("decision"),
    "flag": object_args("flag"),
    "template": object_args("template"),
}
OWN_OTHER_FOREIGN = ("own", "other", "foreign")
CASES = {
    None: (NO_CASE,),
    "staff": OWN_OTHER_FOREIGN,
    # A reset link is a bearer token: who holds it may use it, whoever is signed in.
    "uidb64/token": ("own",),
    "contract": OWN_OTHER_FOREIGN,
    "session": OWN_OTHER_FOREIGN,
    "group": OWN_OTHER_FOREIGN,
    "half_term": ("own", "foreign"),
    "closure": ("own", "foreign"),
    "agenda_item": OWN_OTHER_FOREIGN,
    "feed": ("own",),
    **dict.fromkeys(
        [
            "record",
            "signed_record",
            "section",
            "record_action",
            "previous_action",
            "record_decision",
            "addendum",
            "action",
            "decision",
            "flag",
        ],
        OWN_OTHER_FOREIGN,
    ),  # fmt: skip
    "template": ("own", "foreign"),
    "figure": ("own",),
    "notification": OWN_OTHER_FOREIGN,
    "grant": ("own", "foreign"),
    "export": OWN_OTHER_FOREIGN,
}

# Organisation admins reach every person of their own organisation, and nobody elsewhere.
ADMIN_OF_ORGANISATION = {"own": OK, "other": OK, "foreign": NOT_FOUND}
ORG_ADMIN_ONLY = expect(FORBIDDEN, anonymous=LOGIN, org_admin=OK, outsider=OK)
STAFF_OBJECT = expect(FORBIDDEN, anonymous=LOGIN, org_admin=ADMIN_OF_ORGANISATION, outsider=ADMIN_OF_ORGANISATION)
SIGNED_IN = expect(OK, anonymous=LOGIN)
PUBLIC = expect(OK)

TABLE: dict[str, Row] = {
    "home": Row(None, GET, SIGNED_IN),
    "healthz": Row(None, GET, PUBLIC),
    # Signing in, out and passwords: open to all; a signed-in person is sent home from the login page.
    "accounts:login": Row(None, GET_POST, PUBLIC),
    "accounts:logout": Row(None, POST, PUBLIC),
    "accounts:password-reset": Row(None, GET_POST, PUBLIC),
    "accounts:password-reset-done": Row(None, GET, PUBLIC),
    "accounts:password-reset-confirm": Row("uidb64/token", GET_POST, PUBLIC),
    "accounts:password-reset-complete": Row(None, GET, PUBLIC),
    "accounts:invitation": Row("uidb64/token", GET_POST, PUBLIC),
    "accounts:password-change": Row(None, GET_POST, SIGNED_IN),
    # Organisation admin: staff pages.
    "accounts:staff-list": Row(None, GET, ORG_ADMIN_ONLY),
    "accounts:staff-add": Row(None, GET_POST, ORG_ADMIN_ONLY),
    "accounts:staff-import": Row(None, GET_POST, ORG_ADMIN_ONLY),
    "accounts:staff-import-sample": Row(None, GET, ORG_ADMIN_ONLY),
    "accounts:staff-edit": Row("staff", GET_POST, STAFF_OBJECT),
    "accounts:staff-leaver": Row("staff", GET_POST, STAFF_OBJECT),
    "accounts:staff-roles": Row("staff", GET_POST, STAFF_OBJECT),
    "accounts:staff-invite": Row("staff", POST, STAFF_OBJECT),
}


# --- Supervision: agreements, calendar, sessions, groups, notes -------------------------------------
# Shorthands: P = the primary pair's object, S = the secondary's, F = the other organisation's.


def cases(own, other, foreign=NOT_FOUND):
    return {"own": own, "other": other, "foreign": foreign}


PRIMARY_ONLY = cases(OK, NOT_FOUND)
SECONDARY_ONLY = cases(NOT_FOUND, OK)
WHOLE_ORGANISATION = cases(OK, OK)
NOWHERE = cases(NOT_FOUND, NOT_FOUND)

# Reading an agreement: its two parties, and heads/DSLs/org admins over the supervisee's setting.
CONTRACT_READ = expect(
    NOWHERE,
    anonymous=LOGIN,
    supervisee=PRIMARY_ONLY,
    supervisor=PRIMARY_ONLY,
    dsl=PRIMARY_ONLY,
    head=PRIMARY_ONLY,
    supervisee2=SECONDARY_ONLY,
    supervisor2=SECONDARY_ONLY,
    org_admin=WHOLE_ORGANISATION,
    outsider=WHOLE_ORGANISATION,
)
# Changing one: its supervisor and the leaders of the supervisee's setting; the supervisee may read only.
CONTRACT_MANAGE = {
    **CONTRACT_READ,
    "supervisee": cases(FORBIDDEN, NOT_FOUND),
    "supervisee2": cases(NOT_FOUND, FORBIDDEN),
}
# Signing: the two parties only; leaders who can read it are refused.
CONTRACT_SIGN = {
    **CONTRACT_READ,
    "dsl": cases(FORBIDDEN, NOT_FOUND),
    "head": cases(FORBIDDEN, NOT_FOUND),
    "org_admin": cases(FORBIDDEN, FORBIDDEN),
    "admin_supervisor": cases(FORBIDDEN, FORBIDDEN),
}
# Sessions: the people in it, and heads/DSLs of its setting (the metadata only).
SESSION_READ = expect(
    NOWHERE,
    anonymous=LOGIN,
    supervisee=PRIMARY_ONLY,
    supervisor=PRIMARY_ONLY,
    dsl=PRIMARY_ONLY,
    head=PRIMARY_ONLY,
    supervisee2=SECONDARY_ONLY,
    supervisor2=SECONDARY_ONLY,
    outsider=WHOLE_ORGANISATION,
)
SESSION_PARTICIPANTS = {**SESSION_READ, "dsl": cases(FORBIDDEN, NOT_FOUND), "head": cases(FORBIDDEN, NOT_FOUND)}
SESSION_SUPERVISOR = {
    **SESSION_PARTICIPANTS,
    "supervisee": cases(FORBIDDEN, NOT_FOUND),
    "supervisee2": cases(NOT_FOUND, FORBIDDEN),
}
# Groups: the group's supervisor and members, and the leaders of its setting.
GROUP_READ = {**CONTRACT_READ, "group_member": PRIMARY_ONLY}
LEADERS = expect(
    OK, anonymous=LOGIN, supervisee=FORBIDDEN, supervisee2=FORBIDDEN, auditor=FORBIDDEN, group_member=FORBIDDEN
)
CALENDAR_READERS = expect(FORBIDDEN, anonymous=LOGIN, org_admin=OK, outsider=OK, head=OK, dsl=OK)
ORG_ADMIN_OBJECT = expect(
    FORBIDDEN, anonymous=LOGIN, org_admin={"own": OK, "foreign": NOT_FOUND}, outsider={"own": OK, "foreign": NOT_FOUND}
)

TABLE.update(
    {
        "supervision:contract-list": Row(None, GET, SIGNED_IN),
        "supervision:contract-add": Row(None, GET_POST, LEADERS),
        "supervision:contract-template": Row(None, GET_POST, ORG_ADMIN_ONLY),
        "supervision:contract-detail": Row("contract", GET, CONTRACT_READ),
        "supervision:contract-edit": Row("contract", GET_POST, CONTRACT_MANAGE),
        "supervision:contract-sign": Row("contract", POST, CONTRACT_SIGN),
        "supervision:contract-override": Row("contract", GET_POST, CONTRACT_MANAGE),
        "supervision:contract-change-supervisor": Row("contract", GET_POST, CONTRACT_MANAGE),
        "supervision:contract-renew": Row("contract", POST, CONTRACT_MANAGE),
        "supervision:contract-end": Row("contract", GET_POST, CONTRACT_MANAGE),
        "supervision:calendar": Row(None, GET, SIGNED_IN),
        # Without an agreement or group to book for, the page sends everyone back to the calendar.
        "supervision:session-book": Row(None, GET_POST, SIGNED_IN),
        # The planner: supervisors (own caseload), heads, DSLs and org admins (their settings).
        "supervision:planner": Row(None, GET_POST, LEADERS),
        "supervision:feed-manage": Row(None, GET_POST, SIGNED_IN),
        # The private feed: the token is the key, no sign-in.
        "supervision:feed": Row("feed", GET, expect(OK, leaver=NOT_FOUND)),  # a leaver's feed stops
        # Term dates: org admins change them; heads and DSLs read them.
        "supervision:terms": Row(None, GET_POST, CALENDAR_READERS, post_expect=ORG_ADMIN_ONLY),
        "supervision:terms-import": Row(None, GET_POST, ORG_ADMIN_ONLY),
        "supervision:half-term-edit": Row("half_term", GET_POST, ORG_ADMIN_OBJECT),
        "supervision:closure-add": Row(None, GET_POST, ORG_ADMIN_ONLY),
        "supervision:closure-delete": Row("closure", POST, ORG_ADMIN_OBJECT),
        "supervision:session-detail": Row("session", GET, SESSION_READ),
        "supervision:session-ics": Row("session", GET, SESSION_PARTICIPANTS),
        "supervision:session-reschedule": Row("session", GET_POST, SESSION_SUPERVISOR),
        "supervision:session-cancel": Row("session", POST, SESSION_SUPERVISOR),
        "supervision:session-rebook": Row("session", GET_POST, SESSION_SUPERVISOR),
        "supervision:session-mark": Row("session", POST, SESSION_SUPERVISOR),
        "supervision:agenda-add": Row("session", POST, SESSION_PARTICIPANTS),
        "supervision:agenda-remove": Row("agenda_item", POST, SESSION_PARTICIPANTS),
        "supervision:group-list": Row(None, GET, SIGNED_IN),
        "supervision:group-add": Row(None, GET_POST, LEADERS),
        "supervision:group-detail": Row("group", GET, GROUP_READ),
        "supervision:note-list": Row(None, GET, SIGNED_IN),
        "supervision:note-add": Row(None, GET_POST, LEADERS),
    }
)


# --- Records: the participants of the session only (heads and DSLs follow flags and decisions on the
# safeguarding page; reasoned access to a narrative comes with the dashboards).

RECORD_PARTICIPANTS = expect(
    NOWHERE,
    anonymous=LOGIN,
    supervisee=PRIMARY_ONLY,
    supervisor=PRIMARY_ONLY,
    supervisee2=SECONDARY_ONLY,
    supervisor2=SECONDARY_ONLY,
    outsider=WHOLE_ORGANISATION,
)
RECORD_OVERSEEN = {**RECORD_PARTICIPANTS, "head": PRIMARY_ONLY, "dsl": PRIMARY_ONLY}
# Heads and DSLs of the setting reach the record (metadata, notes after a reason) but change nothing.
LEADERS_REFUSED = {"head": cases(FORBIDDEN, NOT_FOUND), "dsl": cases(FORBIDDEN, NOT_FOUND)}
# A signed record's readers (its setting's leaders, an auditor whose grant covers it) add nothing to it.
READERS_REFUSED = {**LEADERS_REFUSED, "setting_auditor": cases(NOT_FOUND, FORBIDDEN)}
RECORD_SUPERVISOR = {
    **RECORD_PARTICIPANTS,
    "supervisee": cases(FORBIDDEN, NOT_FOUND),
    "supervisee2": cases(NOT_FOUND, FORBIDDEN),
}
RECORD_SUPERVISEE = {
    **RECORD_PARTICIPANTS,
    "supervisor": cases(FORBIDDEN, NOT_FOUND),
    "supervisor2": cases(NOT_FOUND, FORBIDDEN),
    "outsider": cases(FORBIDDEN, FORBIDDEN),
}
# The key person confirms; the record's supervisor may read the decision but not confirm it.
DECISION_CONFIRM = {
    **RECORD_PARTICIPANTS,
    "supervisor": cases(FORBIDDEN, NOT_FOUND),
    "supervisor2": cases(NOT_FOUND, FORBIDDEN),
    "outsider": cases(FORBIDDEN, FORBIDDEN),
}
# Heads and DSLs of the record's setting resolve its flags.
FLAG_RESOLVE = expect(FORBIDDEN, anonymous=LOGIN, head=PRIMARY_ONLY, dsl=PRIMARY_ONLY, outsider=WHOLE_ORGANISATION)
SAFEGUARDING_LEADS = expect(FORBIDDEN, anonymous=LOGIN, head=OK, dsl=OK, outsider=OK)
# Issue 16, fault 8: everyone signed in checks a PDF (its footer sends every reader here); the page names
# the record only to someone who may reach it.
VERIFIERS = SIGNED_IN

TABLE.update(
    {
        "records:record-start": Row("session", POST, SESSION_SUPERVISOR),
        "records:record-list": Row(None, GET, SIGNED_IN),
        "records:record-verify": Row(None, GET_POST, VERIFIERS),
        "records:safeguarding": Row(None, GET, SAFEGUARDING_LEADS),
        "records:flag-resolve": Row("flag", POST, FLAG_RESOLVE),
        "records:decision-confirm": Row("decision", GET_POST, RECORD_PARTICIPANTS, post_expect=DECISION_CONFIRM),
        "records:template-list": Row(None, GET, ORG_ADMIN_ONLY),
        "records:template-add": Row(None, GET_POST, ORG_ADMIN_ONLY),
        "records:template-defaults": Row(None, GET_POST, ORG_ADMIN_ONLY),
        "records:template-edit": Row("template", GET_POST, ORG_ADMIN_OBJECT),
        # Heads and DSLs of the setting see the record's metadata; its notes only after giving a reason.
        "records:record-detail": Row("record", GET, RECORD_OVERSEEN),
        # A signed record whose PDF is not stored yet sends its people back to the record page.
        # An auditor reads the signed records their live grant covers (the secondary school's, for one).
        "records:record-pdf": Row("signed_record", GET, {**RECORD_PARTICIPANTS, "setting_auditor": SECONDARY_ONLY}),
        "records:section-save": Row("section", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:record-review": Row("record", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:action-add": Row("record", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:action-remove": Row("record_action", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:previous-action-review": Row("previous_action", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:decision-add": Row("record", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:decision-remove": Row("record_decision", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:flag-raise": Row("record", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:record-submit": Row("record", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:record-reopen": Row("record", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:record-sign": Row("record", POST, {**RECORD_PARTICIPANTS, **LEADERS_REFUSED}),
        "records:record-comment": Row("record", POST, {**RECORD_SUPERVISEE, **LEADERS_REFUSED}),
        "records:record-rationale": Row("record", POST, {**RECORD_SUPERVISOR, **LEADERS_REFUSED}),
        "records:record-feedback": Row("record", POST, {**RECORD_SUPERVISEE, **LEADERS_REFUSED}),
        "records:addendum-add": Row("signed_record", POST, {**RECORD_PARTICIPANTS, **READERS_REFUSED}),
        "records:addendum-sign": Row("addendum", POST, {**RECORD_PARTICIPANTS, **READERS_REFUSED}),
        "records:action-list": Row(None, GET, SIGNED_IN),
        "records:action-done": Row("action", POST, RECORD_PARTICIPANTS),
    }
)


# --- Reminders, retention, oversight ---------------------------------------------------------------

OWN_ONLY = cases(OK, NOT_FOUND)
MINE = expect(OWN_ONLY, anonymous=LOGIN)
# Issue 11: the cast's auditor has no live grant, so sees neither the dashboard nor the audit trail (they
# see only what a live grant covers); heads and DSLs list grants, to approve those of their settings.
LEADS_AND_ORGANISATION = expect(
    FORBIDDEN, anonymous=LOGIN, head=OK, dsl=OK, org_admin=OK, outsider=OK, setting_auditor=OK
)
AUDIT_READERS = expect(FORBIDDEN, anonymous=LOGIN, org_admin=OK, outsider=OK, setting_auditor=OK)
GRANT_READERS = expect(FORBIDDEN, anonymous=LOGIN, auditor=OK, org_admin=OK, outsider=OK, head=OK, dsl=OK)
# Issue 11: a subject access export is the person's it is about. Everyone reaches their own exports
# and those about them; the admin who asked for one follows its progress but never gets the file.
EXPORT_OWNER = expect(cases(OK, NOT_FOUND), anonymous=LOGIN)
EXPORT_RECIPIENT = expect(cases(OK, NOT_FOUND), anonymous=LOGIN, org_admin=NOWHERE, outsider=NOWHERE)
EXPORT_STARTERS = expect(FORBIDDEN, anonymous=LOGIN, auditor=OK, org_admin=OK, outsider=OK)

TABLE.update(
    {
        "supervision:notification-list": Row(None, GET, SIGNED_IN),
        "supervision:notification-read-all": Row(None, POST, SIGNED_IN),
        "supervision:notification-preferences": Row(None, GET_POST, SIGNED_IN),
        "supervision:notification-read": Row("notification", POST, MINE),
        "accounts:staff-legal-hold": Row("staff", POST, STAFF_OBJECT),
        "accounts:audit-list": Row(None, GET, AUDIT_READERS),
        "supervision:dashboard": Row(None, GET, LEADS_AND_ORGANISATION),
        "supervision:dashboard-list": Row("figure", GET, LEADS_AND_ORGANISATION),
        "supervision:compliance-csv": Row(None, GET, LEADS_AND_ORGANISATION),
        "records:record-access": Row("record", GET_POST, RECORD_OVERSEEN),
        "records:grant-list": Row(None, GET, GRANT_READERS),
        "records:grant-add": Row(None, GET_POST, ORG_ADMIN_ONLY),
        "records:grant-revoke": Row("grant", POST, ORG_ADMIN_OBJECT),
        # Everyone lists their own exports; auditors and organisation admins start them.
        "records:export-list": Row(None, GET_POST, SIGNED_IN, post_expect=EXPORT_STARTERS),
        # The person who asked for an export follows it while the grant is live (auditor) or they still
        # manage the person (organisation admin); the person a subject access export is about reaches it
        # too, and only they download it.
        "records:export-status": Row("export", GET, EXPORT_OWNER),
        "records:export-download": Row("export", GET, EXPORT_RECIPIENT),
    }
)


# --- Issue 11 part 1: changing a person's sign-in address ------------------------------------------
# The links in the two emails are bearer tokens, like a reset link: whoever holds one may use it,
# signed in or not. Each points at a real waiting change of the person's (anonymous: the supervisee's).


def email_change_token_args(step):
    def args(cast, person, case):
        from django.core import signing

        from accounts.email_change import CONFIRM_SALT, VERIFY_SALT
        from accounts.models import EmailChange

        staff = person or cast.supervisee
        waiting = EmailChange.Status.AWAITING_PERSON if step == "confirm" else EmailChange.Status.AWAITING_NEW_ADDRESS
        change = EmailChange.objects.create(
            staff=staff, old_email=staff.user.email, new_email=f"new.{staff.pk}@cast.example", status=waiting
        )
        salt = CONFIRM_SALT if step == "confirm" else VERIFY_SALT
        return {"token": signing.dumps({"c": str(change.code), "e": change.new_email}, salt=salt, compress=True)}

    return args


ARGUMENTS["email_change_confirm"] = email_change_token_args("confirm")
ARGUMENTS["email_change_verify"] = email_change_token_args("verify")
CASES["email_change_confirm"] = ("own",)
CASES["email_change_verify"] = ("own",)

TABLE.update(
    {
        # The signed-in person's own answer to a change of their address (an empty state otherwise).
        "accounts:email-change": Row(None, GET_POST, SIGNED_IN),
        "accounts:email-change-confirm": Row("email_change_confirm", GET_POST, PUBLIC),
        "accounts:email-change-verify": Row("email_change_verify", GET_POST, PUBLIC),
        # An admin who manages the person withdraws a waiting change, or approves it as a second admin.
        "accounts:staff-email-change": Row("staff", POST, STAFF_OBJECT),
    }
)


# --- Issue 11 part 2: separation of duties for auditor grants --------------------------------------
# The "own" grant was asked for by the organisation admin for the cast's auditor over the primary school
# and awaits approval: a head or DSL of the primary school approves it; the admin who asked for it, the
# auditor and everyone else may not (403); another organisation's grant is not found.

TABLE.update(
    {
        "records:grant-approve": Row(
            "grant",
            POST,
            expect(
                FORBIDDEN,
                anonymous=LOGIN,
                head={"own": OK, "foreign": NOT_FOUND},
                dsl={"own": OK, "foreign": NOT_FOUND},
                org_admin={"own": FORBIDDEN, "foreign": NOT_FOUND},
                admin_supervisor={"own": OK, "foreign": NOT_FOUND},  # a second organisation admin
                outsider={"own": FORBIDDEN, "foreign": NOT_FOUND},
            ),
        ),
    }
)


# --- Issue 12: second factor ----------------------------------------------------------------------
# The code step of signing in is open to all (without a right password it sends back to sign in); each
# person manages their own factors; an organisation admin resets anyone they manage (their own are sent to
# their security page instead), and an organisation-wide admin sets the organisation's rule.

TABLE.update(
    {
        "accounts:login-code": Row(None, GET_POST, PUBLIC),
        "accounts:security": Row(None, GET_POST, SIGNED_IN),
        "accounts:security-authenticator": Row(None, GET_POST, SIGNED_IN),
        "accounts:security-recovery-codes": Row(None, POST, SIGNED_IN),
        "accounts:second-factor-rule": Row(None, GET_POST, ORG_ADMIN_ONLY),
        "accounts:staff-second-factor-reset": Row(
            "staff",
            POST,
            STAFF_OBJECT,
        ),
    }
)


# --- Issue 12: Microsoft 365 and Google sign-in -----------------------------------------------------
# Starting and finishing a provider's sign-in are open to all, and the same for everyone: the tests'
# settings register no provider, so both send back to the sign-in page with a message here
# (tests/accounts/test_oidc.py makes the real round trip against a local provider). An organisation-wide
# admin names the tenant and domain, as for the rule.

ARGUMENTS["oidc_provider"] = lambda cast, person, case: {"provider": "microsoft"}
CASES["oidc_provider"] = ("own",)

TABLE.update(
    {
        "accounts:oidc-start": Row("oidc_provider", GET, PUBLIC),
        "accounts:oidc-callback": Row("oidc_provider", GET, PUBLIC),
        "accounts:identity-providers": Row(None, POST, ORG_ADMIN_ONLY),
    }
)


# --- Issue 15: agreements for everyone ----------------------------------------------------------------
# Organisation admins make everyone's agreements and follow a run of their organisation's; the run's
# status page of another organisation is not found. (create_organisation is a command, the setup
# checklist sits on the home page and its "I have checked these dates" posts to supervision:terms.)


def agreement_run_args(cast, person, case):
    """own: a finished run of the person's organisation; foreign: one of the other organisation."""
    from django.utils import timezone

    from supervision.models import AgreementRun

    mine = _home_of(cast, person)
    admin = cast.org_admin if mine == cast.organisation else cast.outsider
    if case == "foreign":
        admin = cast.outsider if admin == cast.org_admin else cast.org_admin
    run = AgreementRun.objects.create(
        organisation=admin.organisation, requested_by=admin, status=AgreementRun.Status.DONE, finished_at=timezone.now()
    )
    return {"code": run.code}


ARGUMENTS["agreement_run"] = agreement_run_args
CASES["agreement_run"] = ("own", "foreign")

TABLE.update(
    {
        "supervision:contract-bulk": Row(None, GET_POST, ORG_ADMIN_ONLY),
        "supervision:contract-bulk-status": Row("agreement_run", GET, ORG_ADMIN_OBJECT),
    }
)


# --- Issue 15: organisation settings, settings (schools, nurseries, sites), signing certificate -------
# An organisation-wide admin changes the organisation's settings and its signing certificate, and adds,
# closes and reopens settings; an organisation admin edits the settings they manage (another
# organisation's is not found). Every signed-in member sees their own organisation's logo, by its
# SHA-256; another organisation's logo is not found.


def setting_args(cast, person, case):
    mine = _home_of(cast, person) == cast.organisation
    setting = (
        (cast.primary if mine else cast.other_setting)
        if case == "own"
        else (cast.other_setting if mine else cast.primary)
    )
    return {"code": setting.code}


def logo_args(cast, person, case):
    import hashlib

    from accounts.models import OrganisationLogo

    home = _home_of(cast, person)
    organisation = (
        home if case == "own" else (cast.other_organisation if home == cast.organisation else cast.organisation)
    )
    image = b"\x89PNG\r\n\x1a\n" + organisation.name.encode()  # served as stored: the upload checks the image
    logo, _ = OrganisationLogo.objects.get_or_create(
        organisation=organisation,
        defaults={"image": image, "content_type": "image/png", "sha256": hashlib.sha256(image).hexdigest(),
                  "width": 1, "height": 1},
    )  # fmt: skip
    return {"digest": logo.sha256}


ARGUMENTS["setting"] = setting_args
ARGUMENTS["organisation_logo"] = logo_args
CASES["setting"] = ("own", "foreign")
CASES["organisation_logo"] = ("own", "foreign")

TABLE.update(
    {
        "accounts:organisation-settings": Row(None, GET_POST, ORG_ADMIN_ONLY),
        "accounts:organisation-logo": Row(
            "organisation_logo", GET, expect({"own": OK, "foreign": NOT_FOUND}, anonymous=LOGIN)
        ),
        "accounts:setting-list": Row(None, GET, ORG_ADMIN_ONLY),
        "accounts:setting-add": Row(None, GET_POST, ORG_ADMIN_ONLY),
        "accounts:setting-edit": Row("setting", GET_POST, ORG_ADMIN_OBJECT),
        "accounts:setting-close": Row("setting", POST, ORG_ADMIN_OBJECT),
        "records:signing-certificate": Row(None, GET_POST, ORG_ADMIN_ONLY),
    }
)


# --- Issue 12: passkeys ---------------------------------------------------------------------------
# The sign-in step's passkey endpoints answer only a browser that has just given a right password
# (403 for everyone else, signed in or not). Everything else acts on the signed-in person's own passkeys
# and nobody else's: the JSON endpoints refuse a request without its earlier step (400: no name, no
# challenge, no passkey), and removing one takes a choice among the person's own. django-otp-webauthn's
# own URLs are not mounted, so they are not in this table. (The JSON endpoints take POST only: `expect`
# names who would get past the access rules, so a GET from them shows the 405.)

PASSKEY_JSON = expect("400", anonymous=LOGIN)

TABLE.update(
    {
        "accounts:login-passkey-begin": Row(None, POST, PUBLIC, post_expect=expect(FORBIDDEN)),
        "accounts:login-passkey-complete": Row(None, POST, PUBLIC, post_expect=expect(FORBIDDEN)),
        "accounts:security-passkey-add": Row(None, GET_POST, SIGNED_IN),
        "accounts:security-passkey-added": Row(None, GET, SIGNED_IN),
        "accounts:security-passkey-remove": Row(None, POST, SIGNED_IN),
        "accounts:passkey-register-begin": Row(None, POST, SIGNED_IN, post_expect=PASSKEY_JSON),
        "accounts:passkey-register-complete": Row(None, POST, SIGNED_IN, post_expect=PASSKEY_JSON),
        "accounts:passkey-confirm-begin": Row(None, POST, SIGNED_IN, post_expect=PASSKEY_JSON),
        "accounts:passkey-confirm-complete": Row(None, POST, SIGNED_IN, post_expect=PASSKEY_JSON),
    }
)


# --- Issue 15 and 17 (wt6): a large staff import followed as a background job ------------------------
# Only the admin who started an import reaches it (its page, its polled status, running it again); another
# admin of the organisation does not find it, nor does anyone of the other organisation. Everyone else is
# refused by role first.


def staff_import_job_args(cast, person, case):
    from accounts.models import StaffImportJob

    def job(owner):
        return StaffImportJob.objects.create(
            organisation_id=owner.organisation_id, requested_by=owner, status="done", total=1, done=1, created=1
        )

    staff = person or cast.org_admin
    admins = (cast.org_admin, getattr(cast, "admin_supervisor", None), cast.outsider)
    if case == "own" and staff in admins:
        return {"code": job(staff).code}
    if case == "foreign":
        return {"code": job(cast.outsider if staff != cast.outsider else cast.org_admin).code}
    other = cast.org_admin if staff != cast.org_admin else getattr(cast, "admin_supervisor", cast.org_admin)
    if staff == cast.outsider:
        other = cast.outsider_staff
    return {"code": job(other).code}


ARGUMENTS["staff_import_job"] = staff_import_job_args
CASES["staff_import_job"] = OWN_OTHER_FOREIGN
IMPORT_OWNER = {"own": OK, "other": NOT_FOUND, "foreign": NOT_FOUND}
STAFF_IMPORT_JOB = expect(FORBIDDEN, anonymous=LOGIN, org_admin=IMPORT_OWNER, outsider=IMPORT_OWNER)

TABLE.update(
    {
        "accounts:staff-import-job": Row("staff_import_job", GET, STAFF_IMPORT_JOB),
        "accounts:staff-import-job-status": Row("staff_import_job", GET, STAFF_IMPORT_JOB),
        "accounts:staff-import-job-retry": Row("staff_import_job", POST, STAFF_IMPORT_JOB),
    }
)


# --- Issue 16 (wt7): a head or DSL reminds the key person to confirm a safeguarding decision ------------
# The leaders of the record's setting press "Remind" on the safeguarding page (a decision of a draft record
# is refused with a message, still a redirect); the leaders of another setting do not find the decision.

DECISION_REMIND = expect(FORBIDDEN, anonymous=LOGIN, head=PRIMARY_ONLY, dsl=PRIMARY_ONLY, outsider=WHOLE_ORGANISATION)

TABLE.update(
    {
        "records:decision-remind": Row("decision", POST, DECISION_REMIND),
    }
)


# --- Issue 14 (h1): the person search of a form's people picker ----------------------------------------
# A form offering more people than a page can list searches them (`accounts:person-search`). Each named
# search answers whom its form's page answers and refuses whom it refuses; it has no object of its own
# (it lists people of the asker's own organisation only), so its cases are the searches, and an unknown
# one is not found.

PICKER_ROWS = {
    "agreement-supervisee": LEADERS,
    "agreement-supervisor": LEADERS,
    "note-supervisee": LEADERS,
    "group-supervisor": LEADERS,
    "group-members": LEADERS,
    "staff-supervisor": ORG_ADMIN_ONLY,
    "subject-access": expect(FORBIDDEN, anonymous=LOGIN, org_admin=OK, outsider=OK),
    "no-such-search": expect(NOT_FOUND, anonymous=LOGIN),
}
ARGUMENTS["picker"] = lambda cast, person, case: {"picker": case}
CASES["picker"] = tuple(PICKER_ROWS)

TABLE.update(
    {
        "accounts:person-search": Row(
            "picker", GET, {person: {case: rows[person] for case, rows in PICKER_ROWS.items()} for person in EVERYONE}
        ),
    }
)
