"""Agreements (contracts), the school calendar, sessions, groups, agendas and informal notes.

The organisation boundary: every model here reaches its organisation in one hop, and the lists
are fetched through `visible_to(staff)` querysets.
"""

import secrets
import uuid
from datetime import timedelta

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Frequency, Organisation, Role, Setting, StaffMember
from accounts.queries import InArray


def _scope_settings(staff: StaffMember, *roles):
    """None when the person holds none of the roles, "organisation", or a set of setting ids."""
    scopes = [staff.role_scope(role) for role in roles]
    if any(s == "organisation" for s in scopes):
        return "organisation"
    ids = {i for s in scopes if s for i in s}
    return ids or None


# --- Academic calendar -------------------------------------------------------------------------


class AcademicYear(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="academic_years")
    name = models.CharField(max_length=20, help_text="Such as 2026/27.")
    starts = models.DateField()
    ends = models.DateField()

    class Meta:
        ordering = ["starts"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="academic_year_unique_name"),
            models.CheckConstraint(condition=Q(ends__gt=F("starts")), name="academic_year_ends_after_start"),
        ]

    def __str__(self):
        return self.name


class Term(models.TextChoices):
    AUTUMN = "autumn", "Autumn"
    SPRING = "spring", "Spring"
    SUMMER = "summer", "Summer"


TERM_ORDER = {Term.AUTUMN: 0, Term.SPRING: 1, Term.SUMMER: 2}


class HalfTermQuerySet(models.QuerySet):
    def containing(self, day):
        return self.filter(starts__lte=day, ends__gte=day)

    def current_or_next(self, organisation, day=None):
        """The half term running on `day`, or the next one to start."""
        day = day or timezone.localdate()
        return self.filter(organisation=organisation, ends__gte=day).order_by("starts").first()


class HalfTerm(models.Model):
    """The unit of scheduling and of compliance: Autumn 1, Autumn 2, Spring 1..."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="half_terms")
    academic_year = models.ForeignKey(AcademicYear, on_delete=models.CASCADE, related_name="half_terms")
    term = models.CharField(max_length=10, choices=Term.choices)
    half = models.PositiveSmallIntegerField(choices=[(1, "1"), (2, "2")])
    starts = models.DateField()
    ends = models.DateField()

    objects = HalfTermQuerySet.as_manager()

    class Meta:
        ordering = ["starts"]
        constraints = [
            models.UniqueConstraint(fields=["academic_year", "term", "half"], name="half_term_unique_in_year"),
            models.CheckConstraint(condition=Q(ends__gte=F("starts")), name="half_term_ends_after_start"),
        ]
        indexes = [
            # "Which half term is this date in" for one organisation.
            models.Index(fields=["organisation", "starts", "ends"], name="half_term_org_dates_idx"),
        ]

    def __str__(self):
        return f"{self.get_term_display()} {self.half} {self.academic_year.name}"

    @property
    def label(self):
        return f"{self.get_term_display()} {self.half}"


class ClosureDay(models.Model):
    """A day the setting (or every setting) is closed inside term: bank holidays and INSET days."""

    class Kind(models.TextChoices):
        BANK_HOLIDAY = "bank_holiday", "Bank holiday"
        INSET = "inset", "INSET day"
        OTHER = "other", "Closure"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="closure_days")
    setting = models.ForeignKey(
        Setting, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: every setting is closed."
    )
    date = models.DateField()
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.INSET)
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "date"], condition=Q(setting__isnull=True), name="closure_unique_org_day"
            ),
            models.UniqueConstraint(
                fields=["organisation", "setting", "date"],
                condition=Q(setting__isnull=False),
                name="closure_unique_setting_day",
            ),
        ]

    def __str__(self):
        return f"{self.date:%a %-d %b %Y} {self.name or self.get_kind_display()}"


# --- Agreements ---------------------------------------------------------------------------------


class SessionKind(models.TextChoices):
    ONE_TO_ONE = "one_to_one", "1:1"
    GROUP = "group", "Group"


class ContractTemplate(models.Model):
    """The organisation's agreement wording, copied into each new agreement."""

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="contract_template")
    purpose = models.TextField()
    supervisor_responsibilities = models.TextField()
    supervisee_responsibilities = models.TextField()
    confidentiality_terms = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Agreement template of {self.organisation}"


class ContractQuerySet(models.QuerySet):
    def active(self, on=None):
        """Signed by both, started, and not ended."""
        on = on or timezone.localdate()
        return self.filter(
            supervisee_signed_at__isnull=False,
            supervisor_signed_at__isnull=False,
            start_date__lte=on,
        ).filter(Q(end_date__isnull=True) | Q(end_date__gte=on))

    def current(self):
        """Not ended: active or awaiting signatures."""
        return self.filter(end_date__isnull=True)

    def visible_to(self, staff: StaffMember):
        """Own agreements (either side), and those of settings where the person is head, DSL or org admin."""
        if staff is None:
            return self.none()
        qs = self.filter(organisation_id=staff.organisation_id)
        mine = Q(supervisee=staff) | Q(supervisor=staff)
        scope = _scope_settings(staff, Role.HEAD, Role.DSL, Role.ORG_ADMIN)
        if scope == "organisation":
            return qs
        if scope:
            # By index, without a join to make rows twice (and a DISTINCT over every agreement of a trust).
            in_settings = StaffMember.settings.through.objects.filter(setting_id__in=scope)
            return qs.filter(mine | Q(InArray("supervisee_id", in_settings.values("staffmember_id"))))
        return qs.filter(mine)


class Contract(models.Model):
    """A supervision agreement between a supervisee and a supervisor. Active once both have signed."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="contracts")
    supervisee = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="contracts_as_supervisee")
    supervisor = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="contracts_as_supervisor")
    kind = models.CharField(max_length=12, choices=SessionKind.choices, default=SessionKind.ONE_TO_ONE)
    frequency = models.CharField(max_length=20, choices=Frequency.choices, default=Frequency.HALF_TERMLY)
    session_minutes = models.PositiveSmallIntegerField(default=30)
    venue = models.CharField(max_length=200, blank=True)
    purpose = models.TextField(blank=True)
    supervisor_responsibilities = models.TextField(blank=True)
    supervisee_responsibilities = models.TextField(blank=True)
    confidentiality_terms = models.TextField(blank=True)
    start_date = models.DateField()
    review_date = models.DateField(help_text="Agreements are reviewed every year.")
    end_date = models.DateField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    previous = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next")
    supervisee_signed_at = models.DateTimeField(null=True, blank=True)
    supervisor_signed_at = models.DateTimeField(null=True, blank=True)
    # SHA-256 of the wording both signed; a change of wording after a signature voids it.
    signed_hash = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(StaffMember, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ContractQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date"]
        constraints = [
            models.CheckConstraint(condition=~Q(supervisee=F("supervisor")), name="contract_not_self_supervised"),
            models.CheckConstraint(
                condition=Q(session_minutes__gte=15, session_minutes__lte=240), name="contract_session_length"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")), name="contract_ends_after_start"
            ),
            # One current 1:1 agreement per supervisee: changing supervisor ends one and starts another.
            models.UniqueConstraint(
                fields=["supervisee"],
                condition=Q(end_date__isnull=True, kind="one_to_one"),
                name="contract_one_current_per_supervisee",
            ),
        ]
        indexes = [
            # A supervisor's caseload.
            models.Index(fields=["supervisor", "end_date"], name="contract_supervisor_idx"),
            # The reminder sweep's agreement reviews (rules 11 and 12): current signed agreements of the
            # organisations at school, by review date (`reminders._signed_current_agreements`).
            models.Index(
                fields=["organisation", "review_date"],
                condition=Q(
                    end_date__isnull=True, supervisee_signed_at__isnull=False, supervisor_signed_at__isnull=False
                ),
                name="contract_review_due_idx",
            ),
            # The dashboard's counts over a scope's agreements (`Dashboard._contract_count_sql`, the staff
            # tiles without a current agreement or unsupervised, `largest_caseload`, the coverage history's
            # agreements): everything they read, so PostgreSQL answers them from this index alone. Without
            # it each scanned the 13 MB of agreements (their wording) to test a thousand people each row:
            # 10 ms a count for an auditor over ten settings of the 12,000-staff trust (issue 14).
            models.Index(
                fields=["organisation", "supervisee", "end_date"],
                include=[
                    "id",
                    "supervisor",
                    "kind",
                    "start_date",
                    "review_date",
                    "supervisee_signed_at",
                    "supervisor_signed_at",
                ],
                name="contract_scope_idx",
            ),
        ]

    def __str__(self):
        return f"{self.supervisee} with {self.supervisor}"

    @property
    def is_signed(self):
        return self.supervisee_signed_at is not None and self.supervisor_signed_at is not None

    def status(self, on=None):
        on = on or timezone.localdate()
        if self.end_date and self.end_date < on:
            return "ended"
        if not self.is_signed:
            return "awaiting signatures"
        if self.review_date < on:
            return "review overdue"
        if self.review_date <= on + timedelta(days=30):
            return "review due"
        return "active"


class FrequencyOverride(models.Model):
    """Raises the frequency for a period, with a reason; lapses by itself at `ends`."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="overrides")
    frequency = models.CharField(max_length=20, choices=Frequency.choices)
    reason = models.CharField(max_length=300)
    starts = models.DateField()
    ends = models.DateField()
    created_by = models.ForeignKey(StaffMember, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts"]
        constraints = [models.CheckConstraint(condition=Q(ends__gte=F("starts")), name="override_ends_after_start")]

    def __str__(self):
        return f"{self.get_frequency_display()} until {self.ends:%a %-d %b %Y}"


class CoverageState(models.Model):
    """Whether `AgreementCoverage` holds a half term's coverage as the data stands (issue 14), with the
    people named in `CoverageTouched` to work out again.

    A beat task (`supervision.refresh_coverage`) works out the coverage of the running half term and of
    each ended one and sets `fresh`; database triggers (supervision/dashboard/summary.py) clear it in the
    transaction of any write that could change who is owed supervision (an agreement, person, closure day,
    override or the half term's dates; in an ended half term, a session, attendance or record too). In the
    running half term a session, attendance or record names its people instead. Only a fresh half term is
    read from the summary, once its named people are worked out again: any other is worked out from the
    data, as before."""

    half_term = models.OneToOneField(HalfTerm, on_delete=models.CASCADE, related_name="coverage_state")
    fresh = models.BooleanField(default=False)
    computed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.half_term} ({'fresh' if self.fresh else 'stale'})"


class AgreementCoverage(models.Model):
    """One agreement owed supervision in an ended or running half term, how it went there, its last held
    session and the first held once the half term ended (`CoverageState`)."""

    half_term = models.ForeignKey(HalfTerm, on_delete=models.CASCADE, related_name="+")
    # `coverage`: an agreement's rows, joined by the overdue list read from a fresh summary. Indexed by
    # `agreement_coverage_by_contract` (below), not an index of its own.
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="coverage", db_index=False)
    held = models.BooleanField()
    booked = models.BooleanField()
    covered = models.BooleanField()
    # What the overdue list sorts by and shows: the agreement's last held session at any time, the
    # supervisee's name, and the first held once the half term ended ("caught up").
    name = models.CharField(max_length=200, default="")
    last_held = models.DateTimeField(null=True)
    caught_up = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["half_term", "contract"], name="agreement_coverage_unique"),
        ]
        indexes = [
            # A scope's counts (`coverage.count_owed` from the summary): its agreements' rows of the chart's
            # half terms, with the flags counted, read from the index alone (issue 14). Also the foreign
            # key's index (an agreement deleted).
            models.Index(
                fields=["contract", "half_term"],
                include=["held", "booked", "covered", "id"],
                name="agreement_coverage_by_contract",
            ),
        ]

    def __str__(self):
        return f"{self.contract_id} in {self.half_term_id}"


class CoverageTouched(models.Model):
    """A person whose agreements' flags in a summarised half term (`AgreementCoverage`) a session, an
    attendance or a record has changed since they were worked out: written by the database's triggers in
    the writing transaction (supervision/dashboard/summary.py), and taken away by the next read of the
    half term, which works their agreements out again (`summary.catch_up`), or by the task summarising it.
    The person's id only, with no foreign key: a trigger writes it, and nothing else reads it."""

    half_term = models.ForeignKey(HalfTerm, on_delete=models.CASCADE, related_name="+", db_index=False)
    person_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["half_term", "person_id"], name="coverage_touched_unique"),
        ]

    def __str__(self):
        return f"{self.person_id} in {self.half_term_id}"


class SettingCoverage(models.Model):
    """An ended half term's counts (`CoverageState`) for the whole organisation (no setting) and for each
    setting (by the supervisee's settings): how many agreements were owed supervision, held, booked and
    covered. The chart of a dashboard of the whole organisation or of one setting reads these."""

    half_term = models.ForeignKey(HalfTerm, on_delete=models.CASCADE, related_name="+")
    setting = models.ForeignKey(Setting, null=True, on_delete=models.CASCADE, related_name="+")
    owed = models.PositiveIntegerField()
    held = models.PositiveIntegerField()
    booked = models.PositiveIntegerField()
    covered = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["half_term", "setting"], name="setting_coverage_unique"),
            models.UniqueConstraint(
                fields=["half_term"], condition=Q(setting__isnull=True), name="setting_coverage_whole_unique"
            ),
        ]

    def __str__(self):
        return f"{self.half_term_id}/{self.setting_id}: {self.covered} of {self.owed}"


# --- Groups and sessions ------------------------------------------------------------------------


class SupervisionGroup(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="supervision_groups")
    setting = models.ForeignKey(Setting, on_delete=models.CASCADE, related_name="supervision_groups")
    name = models.CharField(max_length=200)
    supervisor = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="groups_led")
    members = models.ManyToManyField(StaffMember, related_name="supervision_groups")
    confidentiality_boundaries = models.TextField(
        help_text="What the group agreed may and may not leave the room (seed 001: group supervision)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="group_unique_name_per_organisation")
        ]

    def __str__(self):
        return self.name


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    HELD = "held", "Held"
    CANCELLED = "cancelled", "Cancelled"
    MISSED = "missed", "Missed"


# Sessions that occupy time: a clash with one of these is a clash.
BUSY_STATUSES = [SessionStatus.SCHEDULED, SessionStatus.HELD]


class SessionQuerySet(models.QuerySet):
    def involving(self, staff):
        """Sessions the person leads or attends, in their organisation: a UNION of two index scans (by
        supervisor; the attendees' index by person) rather than an OR across the attendees join, which reads
        every session of every organisation and needs a DISTINCT. Their ids are worked out first and looked
        up by key (`InArray`): as a join, PostgreSQL read every session of the organisation in the feed's
        weeks to keep a supervisor's 88 (10,600 in the generated trust: 7 ms, 3 this way; issue 14)."""
        led = Session.objects.filter(supervisor_id=staff.id).order_by().values("pk")
        mine = InArray("pk", led.union(attended_session_ids(staff.id)))
        return self.filter(mine, organisation_id=staff.organisation_id)

    def busy(self):
        return self.filter(status__in=BUSY_STATUSES)

    def overlapping(self, starts_at, ends_at):
        return self.filter(starts_at__lt=ends_at, ends_at__gt=starts_at)

    def visible_to(self, staff):
        """Participants, and heads/DSLs of the session's setting (metadata only: the view decides)."""
        if staff is None:
            return self.none()
        qs = self.filter(organisation_id=staff.organisation_id)
        # The sessions the person attends by index, not a join that makes rows twice (then a DISTINCT).
        attended = InArray("id", Session.attendees.through.objects.filter(staffmember=staff).values("session_id"))
        mine = Q(supervisor=staff) | Q(attended)
        scope = _scope_settings(staff, Role.HEAD, Role.DSL)
        if scope == "organisation":
            return qs
        if scope:
            return qs.filter(mine | Q(setting_id__in=scope))
        return qs.filter(mine)


def attended_session_ids(staff_id: int):
    """The ids of the sessions the person attends (supervised in), from the attendees' index by person."""
    return Session.attendees.through.objects.filter(staffmember_id=staff_id).order_by().values("session_id")


class Session(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="sessions")
    setting = models.ForeignKey(Setting, on_delete=models.PROTECT, related_name="sessions")
    kind = models.CharField(max_length=12, choices=SessionKind.choices, default=SessionKind.ONE_TO_ONE)
    contract = models.ForeignKey(Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="sessions")
    group = models.ForeignKey(
        SupervisionGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="sessions"
    )
    supervisor = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="sessions_led")
    attendees = models.ManyToManyField(StaffMember, related_name="sessions_attended")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    venue = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED)
    # iCalendar SEQUENCE: rises with every change that is sent out.
    sequence = models.PositiveIntegerField(default=0)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    cancel_reason = models.CharField(max_length=300, blank=True)
    rebooked_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rebooked_as"
    )
    created_by = models.ForeignKey(StaffMember, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SessionQuerySet.as_manager()

    # The setting as read from the database: a record, and its actions, decisions and flags, keep their
    # session's setting (records.Record.setting), and move with it when it changes.
    _SETTING_UNREAD = object()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="session_ends_after_start"),
            models.CheckConstraint(
                condition=(Q(kind="one_to_one", contract__isnull=False, group__isnull=True))
                | Q(kind="group", group__isnull=False),
                name="session_kind_matches_contract_or_group",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | Q(cancelled_at__isnull=False),
                name="session_cancelled_has_time",
            ),
        ]
        indexes = [
            # Clash checks and a supervisor's week: their sessions by time.
            models.Index(fields=["supervisor", "starts_at"], name="session_supervisor_time_idx"),
            models.Index(fields=["organisation", "starts_at"], name="session_org_time_idx"),
            # The dashboard's "last held" and "held in the half term" of each agreement (coverage.py,
            # `OwedAgreements.last_held` and `held`): an agreement's held sessions by time, the latest one
            # read from the end of the index.
            models.Index(
                fields=["contract", "starts_at"], condition=models.Q(status="held"), name="session_held_contract_idx"
            ),
        ]

    def __str__(self):
        local = timezone.localtime(self.starts_at)
        return f"{self.title} on {local:%a %-d %b %Y %H:%M}"

    def save(self, *args, **kwargs):
        # Moved: read from the database with one setting, saved with another. A session saved without its
        # setting (`update_fields`), or whose setting was never read, is not taken as moved.
        read = getattr(self, "_setting_as_read", self._SETTING_UNREAD)
        fields = kwargs.get("update_fields")
        moved = (
            read is not self._SETTING_UNREAD
            and read != self.__dict__.get("setting_id", read)
            and (fields is None or "setting" in fields or "setting_id" in fields)
        )
        super().save(*args, **kwargs)
        if moved:
            self._move_records_to_setting()
        self._setting_as_read = self.__dict__.get("setting_id", self._SETTING_UNREAD)

    @classmethod
    def from_db(cls, db, field_names, values):
        session = super().from_db(db, field_names, values)
        session._setting_as_read = session.__dict__.get("setting_id", cls._SETTING_UNREAD)
        return session

    def _move_records_to_setting(self) -> None:
        """The session's record, and the record's actions, decisions and flags, to the session's setting
        (records imports this app, so their models are reached through the relations)."""
        record_model = self._meta.get_field("record").related_model
        record_model.objects.filter(session_id=self.pk).exclude(setting_id=self.setting_id).update(
            setting_id=self.setting_id
        )
        for kept in ("actions", "decisions", "flags"):
            kept_model = record_model._meta.get_field(kept).related_model
            kept_model.objects.filter(record__session_id=self.pk).exclude(setting_id=self.setting_id).update(
                setting_id=self.setting_id
            )

    @property
    def title(self):
        if self.kind == SessionKind.GROUP and self.group_id:
            return f"Group supervision: {self.group.name}"
        if self.contract_id:
            return f"Supervision: {self.contract.supervisee.full_name} with {self.supervisor.full_name}"
        return "Supervision"

    @property
    def duration_minutes(self):
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    @property
    def is_open(self):
        return self.status == SessionStatus.SCHEDULED


class AgendaItem(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="agenda_items")
    added_by = models.ForeignKey(StaffMember, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.text


class InformalNoteQuerySet(models.QuerySet):
    def visible_to(self, staff):
        """The supervisee's own notes, and those the person recorded or supervises."""
        if staff is None:
            return self.none()
        return self.filter(organisation_id=staff.organisation_id).filter(
            Q(supervisee=staff) | Q(recorded_by=staff) | Q(supervisee__supervisor=staff)
        )

    def to_revisit_in(self, session):
        """The significant notes a session revisits (seed 001): those about the supervisee of a 1:1, up to
        its day, not yet revisited elsewhere. Never a group's: informal notes about one person never reach
        a group (DESIGN.md section 6), so a group session revisits none and its members see none."""
        if session.kind != SessionKind.ONE_TO_ONE or not session.contract_id:
            return self.none()
        return self.filter(
            supervisee_id=session.contract.supervisee_id,
            significant=True,
            occurred_on__lte=timezone.localtime(session.starts_at).date(),
        ).filter(Q(revisited_in__isnull=True) | Q(revisited_in=session))


class InformalNote(models.Model):
    """A quick note of informal supervision. Significant ones are revisited at the next formal session."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="informal_notes")
    supervisee = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="informal_notes")
    recorded_by = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="informal_notes_recorded")
    occurred_on = models.DateField()
    summary = models.TextField()
    significant = models.BooleanField(
        default=False, help_text="Significant issues are pulled into the next formal session's agenda."
    )
    revisited_in = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.SET_NULL, related_name="revisited_notes"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = InformalNoteQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_on", "-created_at"]

    def __str__(self):
        return f"Informal note about {self.supervisee} on {self.occurred_on:%a %-d %b %Y}"


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A person's private calendar feed address; revoking deletes the token, renewing makes a new one."""

    staff = models.OneToOneField(StaffMember, on_delete=models.CASCADE, related_name="calendar_feed")
    token = models.CharField(max_length=64, unique=True, default=new_feed_token)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Calendar feed of {self.staff}"


# --- Reminders and the notification ledger ---------------------------------------------------------


class NotificationKind(models.TextChoices):
    """The rows of DESIGN section 7."""

    AGENDA_PROMPT = "agenda_prompt", "Prepare your agenda"
    SESSION_REMINDER = "session_reminder", "Session tomorrow"
    SIGNATURE_PENDING = "signature_pending", "Record waiting for your signature"
    SIGNATURE_ESCALATION = "signature_escalation", "Record unsigned for a week"
    SESSION_OVERDUE = "session_overdue", "Supervision overdue"
    SESSION_OVERDUE_ESCALATION = "session_overdue_escalation", "Supervision overdue: escalation"
    ACTION_DUE = "action_due", "Action due tomorrow"
    ACTION_OVERDUE = "action_overdue", "Action overdue"
    DECISION_UNCONFIRMED = "decision_unconfirmed", "Safeguarding decision to record on the child's file"
    DECISION_ESCALATION = "decision_escalation", "Safeguarding decision not on the child's file: escalation"
    CONTRACT_REVIEW_DUE = "contract_review_due", "Agreement review due"
    CONTRACT_REVIEW_OVERDUE = "contract_review_overdue", "Agreement review overdue"
    CONTRACT_TO_SIGN = "contract_to_sign", "Agreement to read and sign"
    RETENTION_REPORT = "retention_report", "Records deleted under the retention policy"
    SUBJECT_ACCESS_EXPORT = "subject_access_export", "An export of your data"
    AUDIT_CHAIN_BROKEN = "audit_chain_broken", "The audit trail failed its daily check"


# Safeguarding escalations always go by email, whatever the person's preferences, and at any hour.
ALWAYS_EMAILED = {NotificationKind.DECISION_UNCONFIRMED, NotificationKind.DECISION_ESCALATION}
URGENT = set(ALWAYS_EMAILED)
# So is a broken audit trail: evidence someone changed the record of who did what.
ALWAYS_EMAILED.add(NotificationKind.AUDIT_CHAIN_BROKEN)


class Notification(models.Model):
    """The ledger: one row per (kind, object, recipient, period), whatever happens to workers."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="notifications")
    recipient = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40, choices=NotificationKind.choices)
    object_type = models.CharField(max_length=40)
    object_code = models.CharField(max_length=64)
    period = models.CharField(max_length=40, help_text="Which occurrence: a date, a half term...")
    key = models.CharField(max_length=255, unique=True, help_text="kind:object:recipient:period")
    title = models.CharField(max_length=200)
    body = models.TextField()
    url = models.CharField(max_length=300, help_text="Where the thing to do is, inside the product.")
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_skipped = models.BooleanField(default=False, help_text="The person switched this kind of email off.")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The notification centre and the unread count: one person's, unread first.
            models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_recipient_idx"),
            # Delivery sweeps: what has not gone out yet.
            models.Index(fields=["emailed_at", "email_skipped"], name="notification_pending_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.recipient}"

    @staticmethod
    def make_key(kind: str, object_type: str, object_code, recipient_id: int, period: str) -> str:
        return f"{kind}:{object_type}:{object_code}:{recipient_id}:{period}"


class OutboxEmail(models.Model):
    """The email of a notification, written in the same transaction that marks it emailed.

    Exactly one per notification (the database refuses a second); the SMTP hand-over happens after
    commit and is retried from here if a worker dies in between.
    """

    notification = models.OneToOneField(Notification, on_delete=models.CASCADE, related_name="outbox")
    to = models.EmailField()
    subject = models.CharField(max_length=255)
    text = models.TextField()
    html = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["delivered_at"], name="outbox_undelivered_idx")]

    def __str__(self):
        return f"{self.subject} to {self.to}"


class NotificationPreference(models.Model):
    """A person's choice to receive a kind of reminder in the product only, not by email."""

    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(max_length=40, choices=NotificationKind.choices)
    email = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["staff", "kind"], name="preference_unique_kind")]

    def __str__(self):
        return f"{self.staff}: {self.kind} email {'on' if self.email else 'off'}"


# --- Setting an organisation up ----------------------------------------------------------------------


class SetupCheck(models.Model):
    """An organisation admin's "I have checked this" for a setup step the data cannot tell by itself
    (supervision/setup.py): the term dates, the agreement wording, the record forms."""

    class Step(models.TextChoices):
        TERM_DATES = "term_dates", "Term dates checked"
        AGREEMENT_WORDING = "agreement_wording", "Agreement wording"
        RECORD_FORMS = "record_forms", "Record forms"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="setup_checks")
    step = models.CharField(max_length=32, choices=Step.choices)
    checked_by = models.ForeignKey(StaffMember, null=True, on_delete=models.SET_NULL, related_name="+")
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "step"], name="setup_check_unique_step"),
        ]

    def __str__(self):
        return f"{self.get_step_display()} ({self.organisation})"


class AgreementRun(models.Model):
    """One "agreements for everyone" action (supervision/bulk_agreements.py): who asked, how far it is."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    UNDER_WAY = (Status.QUEUED, Status.RUNNING)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="agreement_runs")
    requested_by = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="agreement_runs")
    in_background = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="People without a current agreement when it started.")
    done = models.PositiveIntegerField(default=0, help_text="People looked at so far.")
    created = models.PositiveIntegerField(default=0, help_text="Agreements made.")
    skipped = models.PositiveIntegerField(default=0, help_text="People with an agreement by their turn.")
    asked = models.PositiveIntegerField(default=0, help_text="Requests to sign sent (two an agreement).")
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # "Is a run under way for this organisation" when another is asked for.
            models.Index(fields=["organisation", "status"], name="agreement_run_org_status_idx"),
        ]

    def __str__(self):
        return f"Agreements for everyone ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(100, int(100 * self.done / self.total)) if self.total else 0

    @property
    def is_under_way(self) -> bool:
        return self.status in self.UNDER_WAY
