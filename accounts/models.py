"""People, organisations, roles and the audit trail.

Every row that belongs to an organisation reaches it in one hop, and every list is fetched through a
queryset method that takes the signed-in person (`StaffMember.objects.manageable_by(staff)`), so the
organisation boundary lives in one place per model.
"""

import uuid
from datetime import date, time

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import connections, models, transaction
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Lower, Replace
from django.utils import timezone
from django.utils.crypto import salted_hmac

from . import audit_chain


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. Email is the sign-in; the organisation comes from `staff`."""

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    # Django's flag for its admin site, which this product does not mount.
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name"]
        indexes = [
            # Lists in name order a page at a time: the trust admin's /contracts/ (by supervisee) read 11,000
            # agreements, joined and sorted, for 50 (36 ms at 12,000 staff); with this index PostgreSQL
            # walks the names in order and stops at the page (2.5 ms, issue 14).
            models.Index(fields=["full_name", "id"], name="user_full_name_idx"),
        ]

    def __str__(self):
        return self.full_name or self.email

    def get_full_name(self):
        return self.full_name

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email

    def _get_session_auth_hash(self, secret=None):
        # Django's hash covers the password only; with the email in it too, a change of either ends
        # every session the person has (the one that changed the password keeps its own).
        return salted_hmac(
            "accounts.User.get_session_auth_hash", f"{self.password}\x00{self.email}", secret=secret, algorithm="sha256"
        ).hexdigest()

    @property
    def has_signed_in(self) -> bool:
        """Whether the account is in use: a password was set, or the person has signed in."""
        return self.has_usable_password() or self.last_login is not None


class Frequency(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    FORTNIGHTLY = "fortnightly", "Fortnightly"
    MONTHLY = "monthly", "Monthly"
    HALF_TERMLY = "half_termly", "Half-termly"
    TERMLY = "termly", "Termly"


class Organisation(models.Model):
    """A trust, partnership or single setting. Nothing crosses organisations."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True, help_text="Printed in the header of every record's PDF.")
    email_sender_name = models.CharField(
        max_length=80, blank=True, help_text="The name outgoing email is from; empty: the installation's default."
    )
    default_session_minutes = models.PositiveSmallIntegerField(default=30)
    default_frequency = models.CharField(max_length=20, choices=Frequency.choices, default=Frequency.HALF_TERMLY)
    retention_months = models.PositiveSmallIntegerField(
        default=12, help_text="Records of a leaver are kept this many months after the leaving date."
    )
    time_zone = models.CharField(max_length=64, default="Europe/London")
    require_second_factor = models.BooleanField(
        "Second factor for privileged roles",
        default=True,
        help_text="Organisation admins, heads, DSLs and auditors must sign in with an authenticator app.",
    )
    # Microsoft 365 and Google sign-in (accounts/oidc.py). Not unique: the schools of one trust may each be
    # an organisation here and share the trust's tenant; a person is still found by their own email only.
    microsoft_tenant_id = models.CharField("Microsoft Entra tenant ID", max_length=36, blank=True)
    google_domain = models.CharField("Google Workspace domain", max_length=253, blank=True)
    trust_provider_mfa = models.BooleanField(
        "Trust the provider's multi-factor sign-in",
        default=False,
        help_text="A sign-in the provider says used multi-factor authentication needs no code from us.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class OrganisationLogo(models.Model):
    """The logo for the PDF header: a PNG or JPEG checked and re-encoded on upload (accounts/organisation.py).

    Kept in the database, so it is backed up with the organisation and served only through a view for its
    signed-in members; a row of its own, so loading an organisation never loads the image.
    """

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="logo")
    image = models.BinaryField()
    content_type = models.CharField(max_length=20)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Logo of {self.organisation_id} ({self.width}x{self.height})"


class SettingQuerySet(models.QuerySet):
    def open(self):
        """Settings still in use: closed ones stay for history but drop out of pickers and planning."""
        return self.filter(closed_on__isnull=True)


class Setting(models.Model):
    """A school, nursery or site of an organisation. Closed, never deleted while anything refers to it."""

    class Kind(models.TextChoices):
        PRIMARY = "primary", "Primary school"
        SECONDARY = "secondary", "Secondary school"
        NURSERY = "nursery", "Nursery"
        SPECIAL = "special", "Special school"
        OTHER = "other", "Other setting"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="settings")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    # The setting's day: the planner books sessions inside it.
    day_starts = models.TimeField(default=time(8, 30))
    day_ends = models.TimeField(default=time(16, 30))
    address = models.TextField(blank=True)
    closed_on = models.DateField(
        null=True, blank=True, help_text="Closed settings keep their people and records but are no longer offered."
    )

    objects = SettingQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="setting_unique_name_per_organisation"),
            models.CheckConstraint(
                condition=Q(day_ends__gt=models.F("day_starts")), name="setting_day_ends_after_start"
            ),
        ]

    def __str__(self):
        return self.name


class EmploymentType(models.TextChoices):
    PERMANENT = "permanent", "Permanent"
    FIXED_TERM = "fixed_term", "Fixed-term"
    AGENCY = "agency", "Agency or temporary"
    VOLUNTEER = "volunteer", "Volunteer"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Mon"
    TUESDAY = 1, "Tue"
    WEDNESDAY = 2, "Wed"
    THURSDAY = 3, "Thu"
    FRIDAY = 4, "Fri"
    SATURDAY = 5, "Sat"
    SUNDAY = 6, "Sun"


class Role(models.TextChoices):
    SUPERVISOR = "supervisor", "Supervisor"
    DSL = "dsl", "Designated safeguarding lead"
    HEAD = "head", "Head"
    AUDITOR = "auditor", "Auditor"
    ORG_ADMIN = "org_admin", "Organisation admin"


class StaffMemberQuerySet(models.QuerySet):
    def in_organisation(self, organisation):
        return self.filter(organisation=organisation)

    def current(self, on=None):
        on = on or timezone.localdate()
        return self.filter(Q(leaving_date__isnull=True) | Q(leaving_date__gte=on))

    def leavers(self, on=None):
        on = on or timezone.localdate()
        return self.filter(leaving_date__lt=on)

    def manageable_by(self, staff):
        """Staff an organisation admin may see and change: the whole organisation, or their settings."""
        if staff is None:
            return self.none()
        qs = self.filter(organisation_id=staff.organisation_id)
        scope = staff.role_scope(Role.ORG_ADMIN)
        if scope is None:
            return self.none()
        if scope == "organisation":
            return qs
        # Not someone whose roles reach beyond these settings: changing their email would hand the
        # setting admin the wider role (an organisation-wide admin's account, say).
        beyond = RoleAssignment.objects.filter(Q(setting__isnull=True) | ~Q(setting__in=scope)).values("staff_id")
        return qs.filter(settings__in=scope).exclude(id__in=beyond).distinct()


class StaffMember(models.Model):
    """A person in an organisation: the unit that is supervised and that supervises."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="staff")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="staff")
    settings = models.ManyToManyField(Setting, related_name="staff", blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    employment_type = models.CharField(max_length=20, choices=EmploymentType.choices, default=EmploymentType.PERMANENT)
    start_date = models.DateField()
    leaving_date = models.DateField(null=True, blank=True)
    new_to_post = models.BooleanField(
        "new to post or early career",
        default=False,
        help_text="New-to-post and early-career staff are supervised more often.",
    )
    legal_hold = models.BooleanField(
        default=False, help_text="Keep this person's records past the retention period (a claim or investigation)."
    )
    # Set by the retention sweep when the person's retention period has passed and it has listed what it
    # will delete; the deletion waits until this date (a 30-day grace period) and a legal hold stops it.
    retention_deletes_on = models.DateField(
        null=True,
        blank=True,
        help_text="The retention sweep deletes this leaver's records on this date unless a legal hold is set.",
    )
    # The person's supervisor as recorded by HR; agreements (contracts) build on it.
    supervisor = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supervisees")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StaffMemberQuerySet.as_manager()

    class Meta:
        ordering = ["user__full_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(leaving_date__isnull=True) | Q(leaving_date__gte=models.F("start_date")),
                name="staff_leaving_not_before_start",
            ),
            models.CheckConstraint(condition=~Q(supervisor=models.F("id")), name="staff_not_own_supervisor"),
        ]
        indexes = [
            # The staff list: one organisation's people, current or leavers.
            models.Index(fields=["organisation", "leaving_date"], name="staff_org_leaving_idx"),
        ]

    def __str__(self):
        return self.user.full_name

    @property
    def full_name(self):
        return self.user.full_name

    @property
    def email(self):
        return self.user.email

    def is_leaver(self, on=None):
        on = on or timezone.localdate()
        return self.leaving_date is not None and self.leaving_date < on

    @property
    def pending_deletion_on(self) -> date | None:
        """The day the retention sweep will delete the person's records, while that is still to come."""
        deletes_on = self.retention_deletes_on
        if self.legal_hold or deletes_on is None or deletes_on < timezone.localdate():
            return None
        return deletes_on

    def last_held_session_on(self) -> date | None:
        """The day (Europe/London) of the last session held with the person in it, as supervisee or
        supervisor; None when there was none. Two queries. Sessions are supervision's: reached through
        their reverse relations, as `accounts` does not import `supervision` ("held" is SessionStatus.HELD).
        """
        latest = [
            related.filter(status="held").aggregate(latest=Max("starts_at"))["latest"]
            for related in (self.sessions_attended, self.sessions_led)
        ]
        moments = [m for m in latest if m is not None]
        return timezone.localtime(max(moments)).date() if moments else None

    def clean(self):
        if self.leaving_date and self.start_date and self.leaving_date < self.start_date:
            raise ValidationError({"leaving_date": "The leaving date cannot be before the start date."})

    # Roles. `role_assignments` is prefetched by the middleware, so these cost no query.
    def _assignments(self):
        return list(self.role_assignments.all())

    def has_role(self, *roles) -> bool:
        return any(a.role in roles for a in self._assignments())

    def role_scope(self, role):
        """None without the role, "organisation" when held org-wide, else the list of setting ids."""
        assignments = [a for a in self._assignments() if a.role == role]
        if not assignments:
            return None
        if any(a.setting_id is None for a in assignments):
            return "organisation"
        return [a.setting_id for a in assignments]

    @property
    def roles(self):
        return sorted({a.role for a in self._assignments()})

    @property
    def is_org_admin(self):
        return self.has_role(Role.ORG_ADMIN)

    @property
    def is_supervisor(self):
        return self.has_role(Role.SUPERVISOR)

    @property
    def is_head_or_dsl(self):
        return self.has_role(Role.HEAD, Role.DSL)

    @property
    def is_auditor(self):
        return self.has_role(Role.AUDITOR)

    @property
    def working_weekdays(self):
        return [d.weekday for d in self.working_days.all()]

    @property
    def working_days_display(self):
        return " ".join(Weekday(d.weekday).label for d in sorted(self.working_days.all(), key=lambda d: d.weekday))


class WorkingDay(models.Model):
    """A day the person works, with hours when they differ from the setting's day."""

    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="working_days")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts = models.TimeField(null=True, blank=True, help_text="Empty: the setting's day starts.")
    ends = models.TimeField(null=True, blank=True, help_text="Empty: the setting's day ends.")

    class Meta:
        ordering = ["weekday"]
        constraints = [
            models.UniqueConstraint(fields=["staff", "weekday"], name="working_day_unique_per_staff"),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="working_day_weekday_range"),
            models.CheckConstraint(
                condition=Q(starts__isnull=True) | Q(ends__isnull=True) | Q(ends__gt=models.F("starts")),
                name="working_day_ends_after_start",
            ),
        ]

    def __str__(self):
        return Weekday(self.weekday).label


class RoleAssignment(models.Model):
    """A role held by a staff member, over one setting or (setting empty) the whole organisation."""

    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=20, choices=Role.choices)
    setting = models.ForeignKey(
        Setting, null=True, blank=True, on_delete=models.CASCADE, related_name="role_assignments"
    )

    class Meta:
        ordering = ["role"]
        constraints = [
            models.UniqueConstraint(
                fields=["staff", "role", "setting"],
                condition=Q(setting__isnull=False),
                name="role_unique_per_setting",
            ),
            models.UniqueConstraint(
                fields=["staff", "role"],
                condition=Q(setting__isnull=True),
                name="role_unique_organisation_wide",
            ),
        ]

    def __str__(self):
        where = self.setting.name if self.setting_id else "whole organisation"
        return f"{self.get_role_display()} ({where})"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The audit trail is append-only")

    def bulk_create(self, objs, *args, **kwargs):
        # Each is linked into its chain first, its chain's head locked until the transaction commits.
        objs = list(objs)
        with transaction.atomic(savepoint=False):  # a savepoint would cost two queries an event
            audit_chain.link_many(objs)
            return super().bulk_create(objs, *args, **kwargs)

    def delete(self):
        raise TypeError("The audit trail is append-only")

    def visible_to(self, staff):
        if staff is None or not staff.has_role(Role.ORG_ADMIN, Role.AUDITOR):
            return self.none()
        return self.filter(organisation_id=staff.organisation_id)

    def distinct_values(self, organisation_id: int, column: str) -> list[str]:
        """The values of `action` or `object_type` in one organisation's trail, in order, by a skip scan:
        one probe of an index led by (organisation, column) a value, where a DISTINCT reads every event."""
        if column not in ("action", "object_type"):
            raise ValueError(f"No skip-scan index for {column!r}")
        table = self.model._meta.db_table
        sql = f"""
            WITH RECURSIVE found(value) AS (
                SELECT MIN({column}) FROM {table} WHERE organisation_id = %s
                UNION ALL
                SELECT (SELECT MIN({column}) FROM {table} WHERE organisation_id = %s AND {column} > found.value)
                FROM found WHERE found.value IS NOT NULL
            )
            SELECT value FROM found WHERE value IS NOT NULL
        """  # noqa: S608 (the column is one of two names above, the table the model's)
        with connections[self.db].cursor() as cursor:
            cursor.execute(sql, [organisation_id, organisation_id])
            return [row[0] for row in cursor.fetchall()]


class AuditEvent(models.Model):
    """Append-only: who did what to which object, when and from where.

    The database refuses UPDATE, DELETE and TRUNCATE on this table (accounts/audit_chain.py), so nothing may
    cascade to it: an organisation with events cannot be deleted, and a deleted account leaves its id here
    (no database constraint, nothing updated; `actor_name` says who it was).
    """

    organisation = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor_name = models.CharField(max_length=200, blank=True, help_text="Kept when the person is deleted.")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_code = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The hash chain (accounts/audit_chain.py): place in the organisation's chain, the hash of the event
    # before it, and the SHA-256 of this event's canonical content including that previous hash.
    sequence = models.PositiveBigIntegerField(default=0)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The audit page: one organisation's events, newest first.
            models.Index(fields=["organisation", "-created_at"], name="audit_org_created_idx"),
            # "Who looked at this record": events about one object.
            models.Index(fields=["object_type", "object_code"], name="audit_object_idx"),
            # The audit page's choice of actions: AuditEventQuerySet.distinct_values skips along it.
            models.Index(fields=["organisation", "action"], name="audit_org_action_idx"),
            # An auditor's trail (records.access.audit_events_in_grants): events about the records their grants
            # cover, matched on the code as 32 lower-case hex digits, the form both databases can compare.
            # Covering on PostgreSQL (SQLite has no INCLUDE): the audit page counts an auditor's events by
            # action (forms_audit) from the index alone, where reading 29,000 events' rows scattered over
            # the table took most of the page (issue 14). An index-only scan of an expression needs the
            # column it is made from too (PostgreSQL checks the columns a query reads, not the expression).
            models.Index(
                F("organisation"),
                F("object_type"),
                Replace(Lower("object_code"), Value("-"), Value("")),
                name="audit_org_object_hex_cov_idx",
                include=["object_code", "action"],
            ),  # and, led by (organisation, object_type), the page's choice of objects (distinct_values)
        ]
        constraints = [
            # audit_verify walks a chain by this; and two events can never take the same place in it.
            models.UniqueConstraint(fields=["organisation", "sequence"], name="audit_chain_position_unique"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("The audit trail is append-only")
        with transaction.atomic(savepoint=False):  # a savepoint would cost two queries an event
            audit_chain.link(self)
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit trail is append-only")


class AuditChainHead(models.Model):
    """The last link of one audit chain (an organisation's, or "installation"): locked to append.

    `/audit/` shows its hash and time so an admin can write it down off the system; audit_verify checks
    that it matches the last event, so events removed from the end are noticed too.
    """

    scope = models.CharField(max_length=32, unique=True, help_text="The organisation's id, or 'installation'.")
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=audit_chain.GENESIS)
    created_at = models.DateTimeField(null=True, blank=True, help_text="When the last event was written.")

    def __str__(self):
        return f"{self.scope}: {self.sequence} {self.hash[:12]}"


class EmailChange(models.Model):
    """A change of a person's sign-in address that waits for them.

    An admin asks; the person confirms from their current address or their own signed-in session (or,
    where that address is gone, a second admin approves); then the new address is verified, and only
    then does it replace the old one. At most one is open per person.
    """

    class Status(models.TextChoices):
        AWAITING_PERSON = "awaiting_person", "Waiting for the person to confirm"
        AWAITING_NEW_ADDRESS = "awaiting_new_address", "Waiting for the new address to be verified"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    class ConfirmedBy(models.TextChoices):
        OLD_ADDRESS = "old_address", "The person, from their current address"
        SESSION = "session", "The person, signed in"
        SECOND_ADMIN = "second_admin", "A second organisation admin"

    OPEN = (Status.AWAITING_PERSON, Status.AWAITING_NEW_ADDRESS)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="email_changes")
    old_email = models.EmailField()
    new_email = models.EmailField()
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.AWAITING_PERSON)
    old_address_gone = models.BooleanField(
        default=False, help_text="The current address no longer works: a second admin approves instead."
    )
    requested_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    confirmed_by = models.CharField(max_length=16, choices=ConfirmedBy.choices, blank=True)
    approved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["staff"],
                condition=Q(status__in=["awaiting_person", "awaiting_new_address"]),
                name="email_change_one_open_per_staff",
            ),
        ]

    def __str__(self):
        return f"{self.old_email} to {self.new_email}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class PendingImport(models.Model):
    """A checked CSV file waiting for its uploader to confirm the import (accounts/imports.py).

    The confirmation posts only the token, so a file of any allowed size round-trips, and the text it
    imports is the text that was checked. Only the uploader, in the same organisation, can use it, and
    only for an hour: the rows are personal data, kept no longer than the confirmation needs.
    """

    class Kind(models.TextChoices):
        STAFF = "staff", "Staff"
        CALENDAR = "calendar", "School calendar"

    token = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The clean-up of expired uploads at every new upload.
            models.Index(fields=["created_at"], name="pending_import_created_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} import by {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"


class StaffImportJob(models.Model):
    """A large staff import confirmed by an admin and run by a worker (accounts/import_jobs.py).

    It keeps its own copy of the checked file and the admin's decisions on rows that look like a known
    person with a new address, so a worker that dies can run it again from the start: the import is
    keyed by email, so rows already written come back as unchanged. One transaction a batch; the
    counters below are written in the batch's transaction, so they always match what is saved.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Finished"
        FAILED = "failed", "Stopped"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="staff_import_jobs")
    requested_by = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="staff_import_jobs")
    text = models.TextField(help_text="The checked file; emptied when the job finishes.")
    resolutions = models.JSONField(default=dict, blank=True, help_text="Row number -> 'email' or 'new'.")
    send_invitations = models.BooleanField(default=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    email_changes = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True, help_text="Rows refused when the job ran.")
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Staff import {self.code} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def unchanged(self) -> int:
        return max(0, self.total - self.created - self.updated) if self.status == self.Status.DONE else 0
