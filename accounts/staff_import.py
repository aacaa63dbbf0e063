"""The staff CSV import: parse, check every row, and only then apply, all in one transaction.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first person row 2.
The email address is the key: importing the same file again changes nothing.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from . import services
from .audit import audit_event, audit_events_bulk
from .email_change import ADDRESS_IN_USE, email_change_request, open_change
from .imports import Problem, pending_import_discard, read_rows
from .models import (
    EmploymentType,
    Organisation,
    PendingImport,
    Role,
    RoleAssignment,
    Setting,
    StaffMember,
    User,
    Weekday,
    WorkingDay,
)
from .services import AUDITOR_AND_ADMIN_MESSAGE, OWN_ROLES_MESSAGE, StaffData
from .validators import control_character_problem

COLUMNS = [
    "first name",
    "last name",
    "email",
    "job title",
    "setting",
    "employment type",
    "working days",
    "start date",
    "supervisor email",
    "roles",
]
REQUIRED = {"first name", "last name", "email", "setting", "employment type", "start date"}
MAX_ROWS = 20000
# The longest name and job title the database keeps (User.full_name, StaffMember.job_title).
MAX_TEXT = 200

DAY_NAMES = {}
for _day in Weekday:
    _short = _day.label.lower()
    DAY_NAMES[_short] = _day.value
for _i, _name in enumerate(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]):
    DAY_NAMES[_name] = _i
DAY_NAMES.update({"tues": 1, "weds": 2, "thur": 3, "thurs": 3})

EMPLOYMENT_NAMES = {
    "permanent": EmploymentType.PERMANENT,
    "fixed term": EmploymentType.FIXED_TERM,
    "fixed-term": EmploymentType.FIXED_TERM,
    "fixed_term": EmploymentType.FIXED_TERM,
    "agency": EmploymentType.AGENCY,
    "temporary": EmploymentType.AGENCY,
    "agency or temporary": EmploymentType.AGENCY,
    "agency/temporary": EmploymentType.AGENCY,
    "supply": EmploymentType.AGENCY,
    "volunteer": EmploymentType.VOLUNTEER,
}

ROLE_NAMES = {
    "supervisor": Role.SUPERVISOR,
    "dsl": Role.DSL,
    "designated safeguarding lead": Role.DSL,
    "head": Role.HEAD,
    "headteacher": Role.HEAD,
    "auditor": Role.AUDITOR,
    "org admin": Role.ORG_ADMIN,
    "org_admin": Role.ORG_ADMIN,
    "organisation admin": Role.ORG_ADMIN,
    "admin": Role.ORG_ADMIN,
}


# Roles whose holders plan sessions for the people they supervise (supervision/views/planner.py).
PLANNING_ROLES = {Role.SUPERVISOR, Role.HEAD, Role.DSL}


@dataclass
class ImportRow:
    row: int
    data: StaffData
    supervisor_email: str
    existing: StaffMember | None = None
    action: str = "new"  # new, update or unchanged
    changes: list[str] = field(default_factory=list)
    # A new address that looks like someone already here (same name, job title and a setting in
    # common): the admin says which it is. `decision`: "email" (the person's new address, through the
    # confirmed change of email) or "new" (another person); None until they say.
    matches: list[StaffMember] = field(default_factory=list)
    decision: str | None = None
    supervisor_name: str = ""  # who the supervisor email was understood to be

    @property
    def days_display(self) -> str:
        return " ".join(Weekday(d).label for d in sorted(self.data.working_days)) or "none"

    @property
    def roles_display(self) -> list[str]:
        return [services._role_label(role, setting) for role, setting in dict.fromkeys(self.data.roles)]

    @property
    def email_change(self) -> bool:
        return self.decision == EMAIL_CHANGE


EMAIL_CHANGE, ANOTHER_PERSON = "email", "new"


@dataclass
class ImportResult:
    rows: list[ImportRow]
    problems: list[Problem]
    # With a file said to be the whole staff list: current people of the admin's settings not in it.
    missing: list[StaffMember] = field(default_factory=list)
    missing_count: int = 0
    # Supervisors named in the file who would hold no role that plans sessions: (name, email), by name.
    supervisors_without_role: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self):
        return not self.problems

    def count(self, action):
        return sum(1 for r in self.rows if r.action == action)

    @property
    def flagged(self) -> list[ImportRow]:
        return [r for r in self.rows if r.matches]

    @property
    def undecided(self) -> list[ImportRow]:
        return [r for r in self.rows if r.matches and r.decision is None]

    @property
    def email_changes(self) -> list[ImportRow]:
        return [r for r in self.rows if r.email_change]


CHUNK = 1000


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _key(header: str) -> str:
    return re.sub(r"[\s_]+", " ", header.strip().lower())


def _parse_date(value: str) -> date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d %b %Y", "%d %B %Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError


def parse(
    text: str,
    *,
    organisation: Organisation,
    allowed_settings: list[Setting],
    org_wide: bool,
    manageable=None,
    importer: StaffMember | None = None,
    resolutions: dict | None = None,
    full_list: bool = False,
) -> ImportResult:
    """Check every row against the organisation; nothing is written.

    `manageable`: the people the importing admin may change (`StaffMember.objects.manageable_by`);
    None for everyone in the organisation. `importer`: the admin importing, whose own roles the file
    cannot change (separation of duties). `resolutions`: the admin's decision on each new row that
    looks like someone already here ({"12": "email" or "new"}, keyed by row number). `full_list`: the
    file is the whole staff list of the admin's settings, so anyone current missing from it is listed.
    """
    problems: list[Problem] = []
    rows: list[ImportRow] = []
    reader = read_rows(text, problems)
    header = next(reader, None)
    if header is None:
        return ImportResult([], problems or [Problem(1, "(header)", "The file is empty.")])
    header = header[1]
    keys = [_key(h) for h in header]
    missing = [c for c in COLUMNS if c in REQUIRED and c not in keys]
    if missing:
        return ImportResult([], [Problem(1, c, "This column is missing from the header row.") for c in missing])
    unknown = [h for h, k in zip(header, keys, strict=True) if k and k not in COLUMNS]
    for h in unknown:
        problems.append(Problem(1, h, f"Unknown column. Expected: {', '.join(COLUMNS)}."))

    # A closed setting (kept for history) takes nobody new: its name is refused with a way to reopen it.
    settings_by_name = {s.name.lower(): s for s in allowed_settings if s.closed_on is None}
    organisation_settings = list(organisation.settings.all())
    all_settings = {s.name.lower() for s in organisation_settings}
    closed_settings = {s.name.lower() for s in organisation_settings if s.closed_on is not None}
    seen_emails: dict[str, int] = {}
    raw_rows = []
    for number, values in reader:
        if not any(v.strip() for v in values):
            continue
        if len(raw_rows) >= MAX_ROWS:
            problems.append(Problem(number, "(row)", f"The file has more than {MAX_ROWS} rows; split it."))
            break
        record = {k: (values[i].strip() if i < len(values) else "") for i, k in enumerate(keys)}
        raw_rows.append((number, record))

    for number, record in raw_rows:
        row_problems = []

        # A cell with a control character gets that one problem, not others about the same text too.
        controlled = {c for c in COLUMNS if control_character_problem(record.get(c, ""))}

        def problem(column, message, _row=number, _list=row_problems, _skip=controlled):
            if column not in _skip:
                _list.append(Problem(_row, column, message))

        for column in REQUIRED:
            if not record.get(column):
                problem(column, "This value is required.")
        for column in sorted(controlled, key=COLUMNS.index):
            row_problems.append(Problem(number, column, control_character_problem(record[column])))
        email = record.get("email", "").lower()
        if email:
            try:
                validate_email(email)
            except ValidationError:
                problem("email", f"“{record['email']}” is not an email address.")
            else:
                if email in seen_emails:
                    problem("email", f"The same address is on row {seen_emails[email]}.")
                seen_emails.setdefault(email, number)
        settings = []
        for name in filter(None, (n.strip() for n in record.get("setting", "").split(";"))):
            setting = settings_by_name.get(name.lower())
            if setting is None:
                if name.lower() in closed_settings:
                    problem("setting", f"“{name}” is closed: reopen it on the settings page first.")
                elif name.lower() in all_settings:
                    problem("setting", f"You do not manage “{name}”.")
                else:
                    choices = ", ".join(s.name for s in settings_by_name.values())
                    problem("setting", f"There is no setting called “{name}”. Settings: {choices}.")
            else:
                settings.append(setting)
        employment = None
        if record.get("employment type"):
            employment = EMPLOYMENT_NAMES.get(_key(record["employment type"]))
            if employment is None:
                problem(
                    "employment type",
                    f"“{record['employment type']}” is not one of: "
                    "permanent, fixed-term, agency, temporary, volunteer.",
                )
        days = {}
        day_text = record.get("working days", "")
        if day_text:
            for token in re.split(r"[\s,;/]+", day_text.strip()):
                weekday = DAY_NAMES.get(token.lower())
                if weekday is None:
                    problem("working days", f"“{token}” is not a day. Write days like “Mon Tue Thu”.")
                    break
                days[weekday] = (None, None)
        else:
            days = dict.fromkeys(range(5), (None, None))
        start = None
        if record.get("start date"):
            try:
                start = _parse_date(record["start date"])
            except ValueError:
                problem("start date", f"“{record['start date']}” is not a date. Write it as 2025-09-01 or 01/09/2025.")
        roles = []
        for token in filter(None, (t.strip() for t in re.split(r"[;,]", record.get("roles", "")))):
            name, _, where = token.partition("@")
            role = ROLE_NAMES.get(_key(name))
            if role is None:
                problem("roles", f"“{name}” is not a role. Roles: supervisor, DSL, head, auditor, org admin.")
                continue
            where = where.strip()
            if where.lower() in ("organisation", "organization", "trust", "all"):
                if not org_wide:
                    problem("roles", "Only an organisation-wide admin can give organisation-wide roles.")
                    continue
                roles.append((role.value, None))
            elif where:
                setting = settings_by_name.get(where.lower())
                if setting is None:
                    problem("roles", f"There is no setting you manage called “{where}”.")
                    continue
                roles.append((role.value, setting))
            else:
                roles.extend((role.value, s) for s in settings)
        if {Role.AUDITOR, Role.ORG_ADMIN} <= {role for role, _ in roles}:
            problem("roles", AUDITOR_AND_ADMIN_MESSAGE)
        supervisor_email = record.get("supervisor email", "").lower()
        if supervisor_email and supervisor_email == email:
            problem("supervisor email", "A person cannot supervise themselves.")
        if len(record.get("job title", "")) > MAX_TEXT:
            problem("job title", f"Keep this to {MAX_TEXT} characters.")
        if len(record.get("first name", "")) + len(record.get("last name", "")) + 1 > MAX_TEXT:
            problem("last name", f"The first and last name together take at most {MAX_TEXT} characters.")
        problems.extend(row_problems)
        if row_problems:
            continue
        full_name = f"{record['first name']} {record['last name']}".strip()
        rows.append(
            ImportRow(
                row=number,
                supervisor_email=supervisor_email,
                data=StaffData(
                    full_name=full_name,
                    email=email,
                    job_title=record.get("job title", ""),
                    employment_type=employment,
                    start_date=start,
                    settings=settings,
                    working_days=days,
                    roles=roles,
                ),
            )
        )

    # Existing people: three queries per thousand addresses, whatever the file's length (and no
    # IN list longer than the database takes).
    emails = sorted({r.data.email for r in rows} | {r.supervisor_email for r in rows if r.supervisor_email})
    if manageable is None:
        manageable = StaffMember.objects.filter(organisation=organisation)
    users, existing_staff, manageable_ids = {}, {}, set()
    for chunk in _chunks(emails):
        users.update(
            (u.email.lower(), u)
            for u in User.objects.filter(email__in=chunk).select_related(
                "staff__organisation", "staff__supervisor__user"
            )
        )
        existing_staff.update(
            (s.user.email.lower(), s)
            for s in StaffMember.objects.filter(organisation=organisation, user__email__in=chunk)
            .select_related("user", "supervisor__user")
            .prefetch_related("settings", "working_days", "role_assignments")
        )
        manageable_ids.update(manageable.filter(user__email__in=chunk).values_list("id", flat=True))
    # Every address in the file, rows with problems included: a bad row is reported once, not again
    # on every row it supervises.
    file_emails = set(seen_emails)
    for r in rows:
        user = users.get(r.data.email)
        if user is not None and r.data.email not in existing_staff:
            problems.append(Problem(r.row, "email", ADDRESS_IN_USE))
            continue
        if r.supervisor_email and r.supervisor_email not in existing_staff and r.supervisor_email not in file_emails:
            problems.append(
                Problem(
                    r.row,
                    "supervisor email",
                    f"Nobody in the organisation or the file has the address “{r.supervisor_email}”.",
                )
            )
            continue
        r.existing = existing_staff.get(r.data.email)
        if r.existing is not None and r.existing.id not in manageable_ids:
            problems.append(
                Problem(
                    r.row,
                    "email",
                    "You cannot change this person: they work, or hold a role, outside the settings you manage.",
                )
            )
            continue
        if r.existing is not None:
            held = {(a.role, a.setting_id) for a in r.existing.role_assignments.all()}
            adds = {role for role, st in r.data.roles if (role, st.id if st else None) not in held}
            if adds and importer is not None and r.existing.id == importer.id:
                problems.append(Problem(r.row, "roles", OWN_ROLES_MESSAGE))
                continue
            if adds and {Role.AUDITOR, Role.ORG_ADMIN} <= adds | {role for role, _ in held}:
                problems.append(Problem(r.row, "roles", AUDITOR_AND_ADMIN_MESSAGE))
                continue
            r.data.leaving_date = r.existing.leaving_date
            r.data.new_to_post = r.existing.new_to_post
            if r.existing.organisation_id != organisation.id:
                problems.append(Problem(r.row, "email", ADDRESS_IN_USE))
    if not problems:
        _match_known_people(rows, set(seen_emails), manageable, resolutions or {}, problems, importer)
    problems.sort(key=lambda p: (p.row, COLUMNS.index(p.column) if p.column in COLUMNS else -1))
    if problems:
        return ImportResult(rows, problems)

    result = ImportResult(rows, [])
    names = {r.data.email: r.data.full_name for r in rows}
    in_file = {r.data.email: r for r in rows}
    without_role = {}
    for r in rows:
        if r.supervisor_email:
            known = existing_staff.get(r.supervisor_email)
            r.supervisor_name = known.full_name if known else names.get(r.supervisor_email, "")
            if r.supervisor_email not in without_role and not _plans_sessions(in_file.get(r.supervisor_email), known):
                without_role[r.supervisor_email] = r.supervisor_name or r.supervisor_email
    result.supervisors_without_role = sorted(((name, email) for email, name in without_role.items()))
    if full_list:
        _missing_people(result, set(seen_emails), manageable, allowed_settings)
    for r in rows:
        if r.existing is None:
            r.action = "new"
            continue
        s = r.existing
        changes = []
        if s.user.full_name != r.data.full_name:
            changes.append("name")
        if s.job_title != r.data.job_title:
            changes.append("job title")
        if s.employment_type != r.data.employment_type:
            changes.append("employment type")
        if s.start_date != r.data.start_date:
            changes.append("start date")
        if {x.id for x in s.settings.all()} != {x.id for x in r.data.settings}:
            changes.append("settings")
        if {d.weekday for d in s.working_days.all()} != set(r.data.working_days):
            changes.append("working days")
        current_supervisor = s.supervisor.user.email.lower() if s.supervisor_id else ""
        if current_supervisor != r.supervisor_email:
            changes.append("supervisor")
        held = {(a.role, a.setting_id) for a in s.role_assignments.all()}
        if any((role, st.id if st else None) not in held for role, st in r.data.roles):
            changes.append("roles")
        # Hours of an existing working day are kept: the file only says which days.
        r.data.working_days = {
            d: next(((w.starts, w.ends) for w in s.working_days.all() if w.weekday == d), (None, None))
            for d in r.data.working_days
        }
        r.changes = changes
        r.action = "update" if changes else "unchanged"
    return result


def _plans_sessions(row: ImportRow | None, known: StaffMember | None) -> bool:
    """Whether a supervisor will hold a role that opens the half-term planner (supervisor, or head or DSL
    for their setting) once the file is imported: the roles of their row added to those they hold."""
    roles = {role for role, _setting in row.data.roles} if row is not None else set()
    if known is not None:
        roles |= {a.role for a in known.role_assignments.all()}  # prefetched
    return bool(roles & PLANNING_ROLES)


def _match_known_people(
    rows: list[ImportRow], file_emails: set, manageable, resolutions: dict, problems, importer=None
) -> None:
    """Flag each new address whose name, job title and a setting match someone already here who is not
    in the file under their own address: a changed email in the MIS, or a namesake. One query per
    thousand names. With the admin's decision "email", the row becomes a change to that person (their
    new address then waits for their confirmation); with "new", it stays a new person."""
    new_rows = [r for r in rows if r.existing is None]
    names = sorted({r.data.full_name.lower() for r in new_rows})
    known: dict[str, list[StaffMember]] = {}
    for chunk in _chunks(names):
        people = (
            manageable.annotate(name_lower=Lower("user__full_name"))
            .filter(name_lower__in=chunk, user__is_active=True)
            .select_related("user", "supervisor__user")
            .prefetch_related("settings", "working_days", "role_assignments")
            .order_by("id")
        )
        for person in people:
            if person.user.email.lower() not in file_emails:
                known.setdefault(person.name_lower, []).append(person)
    taken: dict[int, int] = {}
    for r in new_rows:
        setting_ids = {s.id for s in r.data.settings}
        r.matches = [
            p
            for p in known.get(r.data.full_name.lower(), ())
            if p.job_title.strip().lower() == r.data.job_title.strip().lower()
            and setting_ids & {s.id for s in p.settings.all()}
        ]
        if not r.matches:
            continue
        decision = resolutions.get(str(r.row))
        if decision not in (EMAIL_CHANGE, ANOTHER_PERSON):
            continue
        r.decision = decision
        if decision == ANOTHER_PERSON:
            continue
        if len(r.matches) > 1:
            problems.append(
                Problem(r.row, "email", "Several people here match this row: change their address from their page.")
            )
            continue
        person = r.matches[0]
        if person.id in taken:
            problems.append(
                Problem(r.row, "email", f"Row {taken[person.id]} is already {person.full_name}'s new address.")
            )
            continue
        # The same rules on roles as for anyone already here (parse, above).
        held = {(a.role, a.setting_id) for a in person.role_assignments.all()}
        adds = {role for role, st in r.data.roles if (role, st.id if st else None) not in held}
        if adds and importer is not None and person.id == importer.id:
            problems.append(Problem(r.row, "roles", OWN_ROLES_MESSAGE))
            continue
        if adds and {Role.AUDITOR, Role.ORG_ADMIN} <= adds | {role for role, _ in held}:
            problems.append(Problem(r.row, "roles", AUDITOR_AND_ADMIN_MESSAGE))
            continue
        taken[person.id] = r.row
        r.existing = person
        r.data.leaving_date = person.leaving_date
        r.data.new_to_post = person.new_to_post


MISSING_SHOWN = 200


def _missing_people(result: ImportResult, file_emails: set, manageable, allowed_settings) -> None:
    """Current people of the admin's settings who are not in a file said to be the whole staff list, and
    not matched to one of its rows as a change of address. Their addresses are read in one query (the
    file already holds as many); the first MISSING_SHOWN are named."""
    changed = {r.existing.id for r in result.rows if r.email_change}
    today = timezone.localdate()
    current = (
        manageable.filter(settings__in=allowed_settings, user__is_active=True)
        .filter(Q(leaving_date__isnull=True) | Q(leaving_date__gte=today))
        .exclude(id__in=changed)
        .distinct()
    )
    missing_ids = [pid for pid, email in current.values_list("id", "user__email") if email.lower() not in file_emails]
    result.missing_count = len(missing_ids)
    result.missing = list(
        StaffMember.objects.filter(id__in=missing_ids[:MISSING_SHOWN])
        .select_related("user")
        .order_by("user__full_name")
    )


def _after(data: StaffData, supervisor_email: str) -> dict:
    """The audit snapshot of a person as the file leaves them (services._snapshot, without a query)."""
    return {
        "full_name": data.full_name,
        "email": data.email,
        "job_title": data.job_title,
        "employment_type": data.employment_type,
        "start_date": data.start_date.isoformat(),
        "leaving_date": data.leaving_date.isoformat() if data.leaving_date else None,
        "new_to_post": data.new_to_post,
        "supervisor": supervisor_email or None,
        "settings": sorted(s.name for s in data.settings),
        "working_days": {
            str(weekday): [starts.isoformat() if starts else None, ends.isoformat() if ends else None]
            for weekday, (starts, ends) in sorted(data.working_days.items())
        },
    }


def _levels(rows: list[ImportRow]) -> list[list[ImportRow]]:
    """New people by depth: those whose supervisor is not new in the file first, then whom they
    supervise, and so on. A circle of new people goes in the last level, its supervisors set after."""
    by_email = {r.data.email: r for r in rows}
    depth: dict[str, int] = {}
    for r in rows:
        chain, email = [], r.data.email
        while email in by_email and email not in depth and email not in chain:
            chain.append(email)
            email = by_email[email].supervisor_email
        base = depth.get(email, -1) if email not in chain else len(rows)
        for offset, member in enumerate(reversed(chain), start=1):
            depth[member] = base + offset
    levels: dict[int, list[ImportRow]] = {}
    for r in rows:
        levels.setdefault(depth[r.data.email], []).append(r)
    return [levels[d] for d in sorted(levels)]


def _create(rows: list[ImportRow], *, organisation: Organisation, by_email: dict) -> list[StaffMember]:
    """The new people of one chunk: five INSERTs however many rows (PostgreSQL and SQLite return ids).
    `by_email`: the people created or found so far, for supervisors."""
    users = []
    for r in rows:
        user = User(email=r.data.email, full_name=r.data.full_name)
        user.set_unusable_password()
        users.append(user)
    User.objects.bulk_create(users)
    staff = [
        StaffMember(
            user=user,
            organisation=organisation,
            job_title=r.data.job_title,
            employment_type=r.data.employment_type,
            start_date=r.data.start_date,
            leaving_date=r.data.leaving_date,
            new_to_post=r.data.new_to_post,
            supervisor=by_email.get(r.supervisor_email) if r.supervisor_email else None,
        )
        for r, user in zip(rows, users, strict=True)
    ]
    StaffMember.objects.bulk_create(staff)
    Through = StaffMember.settings.through
    Through.objects.bulk_create(
        [
            Through(staffmember_id=s.id, setting_id=st.id)
            for s, r in zip(staff, rows, strict=True)
            for st in r.data.settings
        ]
    )
    WorkingDay.objects.bulk_create(
        [
            WorkingDay(staff_id=s.id, weekday=day, starts=starts, ends=ends)
            for s, r in zip(staff, rows, strict=True)
            for day, (starts, ends) in r.data.working_days.items()
        ]
    )
    RoleAssignment.objects.bulk_create(
        [
            RoleAssignment(staff_id=s.id, role=role, setting=setting)
            for s, r in zip(staff, rows, strict=True)
            for role, setting in dict.fromkeys(r.data.roles)
        ]
    )
    return staff


def _update(rows: list[ImportRow]) -> list[tuple[StaffMember, dict, list[str]]]:
    """The changed people of one chunk, as services.staff_update and staff_add_roles would change them,
    in a fixed number of queries. Leaving date, new-to-post flag and the hours of a kept day are the
    person's own (parse copies them), and the email is the key, so neither changes here.
    Returns (person, changes, roles added) for the audit trail."""
    Through = StaffMember.settings.through
    now = timezone.now()
    users, people, audit = [], [], []
    settings_rows, days_new, days_gone, roles_new = [], [], [], []
    for r in rows:
        s = r.existing
        before = services._snapshot(s)
        changes = services._changes(before, _after(r.data, r.supervisor_email))
        s.user.full_name = r.data.full_name
        s.job_title = r.data.job_title
        s.employment_type = r.data.employment_type
        s.start_date = r.data.start_date
        s.supervisor = r.data.supervisor
        s.updated_at = now
        users.append(s.user)
        people.append(s)
        if "settings" in changes:
            settings_rows.extend(Through(staffmember_id=s.id, setting_id=st.id) for st in r.data.settings)
        current = {d.weekday for d in s.working_days.all()}
        days_gone.extend(d.id for d in s.working_days.all() if d.weekday not in r.data.working_days)
        days_new.extend(
            WorkingDay(staff_id=s.id, weekday=day, starts=starts, ends=ends)
            for day, (starts, ends) in r.data.working_days.items()
            if day not in current
        )
        held = {(a.role, a.setting_id) for a in s.role_assignments.all()}
        added = []
        for role, setting in dict.fromkeys(r.data.roles):
            if (role, setting.id if setting else None) not in held:
                roles_new.append(RoleAssignment(staff_id=s.id, role=role, setting=setting))
                added.append(services._role_label(role, setting))
        audit.append((s, changes, added))
    User.objects.bulk_update(users, ["full_name"])
    StaffMember.objects.bulk_update(people, ["job_title", "employment_type", "start_date", "supervisor", "updated_at"])
    moved = [s.id for s, changes, _ in audit if "settings" in changes]
    Through.objects.filter(staffmember_id__in=moved).delete()
    Through.objects.bulk_create(settings_rows)
    WorkingDay.objects.filter(id__in=days_gone).delete()
    WorkingDay.objects.bulk_create(days_new)
    RoleAssignment.objects.bulk_create(roles_new)
    return audit


@transaction.atomic
def apply(
    result: ImportResult,
    *,
    actor,
    organisation: Organisation,
    send_invitations: bool,
    request=None,
    pending: PendingImport | None = None,
    summary_event: bool = True,
) -> dict:
    """Write a checked import. Roles in the file are added, never removed (removal is done by hand).
    A row the admin said is someone's new address updates that person and asks for the change of
    address, which takes effect only when they confirm it (accounts/email_change.py).

    Bulk writes a thousand rows at a time: the number of queries grows with the chunks, not the rows
    (a 12,000-person file is a few dozen queries). Every person still gets their own audit events,
    as the one-at-a-time services write them. `pending`: the uploaded file kept for this confirmation,
    removed with the import."""
    from .tasks import send_invitation

    assert result.ok and not result.undecided
    if pending is not None:
        pending_import_discard(pending=pending)
    new_rows = [r for r in result.rows if r.action == "new"]
    changed_rows = [r for r in result.rows if r.action == "update"]
    by_email: dict[str, StaffMember] = {r.data.email: r.existing for r in result.rows if r.existing is not None}
    # Supervisors already here, then new people supervisors first (by their depth in the file's
    # chains), so most people get their supervisor as they are created rather than in an UPDATE.
    wanted = {r.supervisor_email for r in result.rows if r.supervisor_email} - set(by_email)
    for chunk in _chunks(sorted(wanted)):
        by_email.update(
            (s.user.email.lower(), s)
            for s in StaffMember.objects.filter(organisation=organisation, user__email__in=chunk).select_related("user")
        )
    created = []
    for level in _levels(new_rows):
        for chunk in _chunks(level):
            staff = _create(chunk, organisation=organisation, by_email=by_email)
            by_email.update((s.user.email, s) for s in staff)
            created.extend(zip(chunk, staff, strict=True))
    for r in result.rows:
        r.data.supervisor = by_email.get(r.supervisor_email) if r.supervisor_email else None
    # Only a circle (two new people supervising each other) is left to an UPDATE.
    supervised = []
    for r, s in created:
        if r.data.supervisor is not None and s.supervisor_id is None:
            s.supervisor = r.data.supervisor
            supervised.append(s)
    StaffMember.objects.bulk_update(supervised, ["supervisor"], batch_size=CHUNK)

    audit_events_bulk(
        action="staff.created",
        actor=actor,
        organisation=organisation,
        request=request,
        items=[
            (
                s,
                {
                    "after": _after(r.data, r.supervisor_email),
                    "roles": [services._role_label(role, st) for role, st in r.data.roles],
                },
            )
            for r, s in created
        ],
    )
    updates = []
    for chunk in _chunks(changed_rows):
        updates.extend(_update(chunk))
    audit_events_bulk(
        action="staff.updated",
        actor=actor,
        organisation=organisation,
        request=request,
        items=[(s, {"changes": changes}) for s, changes, _ in updates if changes],
    )
    audit_events_bulk(
        action="staff.roles_changed",
        actor=actor,
        organisation=organisation,
        request=request,
        items=[(s, {"added": added, "removed": []}) for s, _, added in updates if added],
    )
    if send_invitations:
        audit_events_bulk(
            action="staff.invited",
            actor=actor,
            organisation=organisation,
            request=request,
            items=[(s, {"email": s.user.email}) for _, s in created],
        )
        ids = [s.id for _, s in created]
        transaction.on_commit(lambda: [send_invitation.delay(staff_id) for staff_id in ids])
    # A handful of rows at most, each decided by the admin: one request (and its audit event) each. A
    # request already waiting for the same address is left as it is, so running the import again
    # asks the person nothing twice.
    asked = 0
    for r in result.email_changes:
        waiting = open_change(r.existing)
        if waiting is None or waiting.new_email != r.data.email:
            email_change_request(actor=actor, staff=r.existing, new_email=r.data.email, request=request)
            asked += 1
    summary = {
        "created": len(created),
        "updated": len(changed_rows),
        "unchanged": result.count("unchanged"),
        "email_changes": asked,
    }
    if summary_event:
        audit_event(action="staff.imported", actor=actor, organisation=organisation, request=request, details=summary)
    return summary


PREVIEW_ROWS = 50
PREVIEW_PROBLEMS = 500


def preview(result: ImportResult) -> dict:
    """The preview page's context: counts, the first rows and at most PREVIEW_PROBLEMS problems, so a
    file of 12,000 people renders a page of the same size as one of fifty."""
    return {
        "result": result,
        "counts": {action: result.count(action) for action in ("new", "update", "unchanged")},
        "preview_rows": result.rows[:PREVIEW_ROWS],
        "problems": result.problems[:PREVIEW_PROBLEMS],
        "flagged": result.flagged[:PREVIEW_PROBLEMS],
        "background": len(result.rows) > settings.STAFF_IMPORT_BACKGROUND_ROWS,
        "background_rows": settings.STAFF_IMPORT_BACKGROUND_ROWS,
    }
