"""Record templates, supervision records, actions, safeguarding decisions, flags, signatures, addenda.

A record belongs to one held session and renders with the template version it was written on. Its
narrative is reachable only through `get_record_for_user` (records/access.py).
"""

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Length, Trim
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from accounts.models import Organisation, Setting, StaffMember
from accounts.queries import InArray
from supervision.models import Session, attended_session_ids


class FunctionTag(models.TextChoices):
    """The three functions of supervision (seed 001, seed 004): the "three Ps"."""

    PERFORMANCE = "performance", "Performance"
    DEVELOPMENT = "development", "Professional development"
    PERSONAL_SUPPORT = "personal_support", "Personal support"


class RecordTemplate(models.Model):
    """The organisation's record form. Editing makes a new version; records keep theirs."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="record_templates")
    name = models.CharField(max_length=200)
    for_groups = models.BooleanField(default=False, help_text="A form for group supervision.")
    builtin_key = models.CharField(max_length=40, blank=True, help_text="Set on the built-in forms.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="record_template_unique_name"),
        ]

    def __str__(self):
        return self.name

    def current_version(self):
        return self.versions.order_by("-number").first()


class RecordTemplateVersion(models.Model):
    template = models.ForeignKey(RecordTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    created_by = models.ForeignKey(StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="template_version_unique_number")]

    def __str__(self):
        return f"{self.template.name}, version {self.number}"


class TemplateSection(models.Model):
    version = models.ForeignKey(RecordTemplateVersion, on_delete=models.CASCADE, related_name="sections")
    order = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    prompt = models.TextField(blank=True)
    function = models.CharField(max_length=20, choices=FunctionTag.choices)
    takes_actions = models.BooleanField(default=True)

    class Meta:
        ordering = ["version", "order"]
        constraints = [models.UniqueConstraint(fields=["version", "order"], name="template_section_unique_order")]

    def __str__(self):
        return self.title


class SettingDefaultTemplate(models.Model):
    """Which form a setting uses by default for 1:1 records."""

    setting = models.OneToOneField(Setting, on_delete=models.CASCADE, related_name="default_record_template")
    template = models.ForeignKey(RecordTemplate, on_delete=models.CASCADE, related_name="+")

    def __str__(self):
        return f"{self.setting}: {self.template}"


class RecordStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    AWAITING_SUPERVISEE = "awaiting_supervisee", "Awaiting the supervisee"
    AWAITING_SUPERVISOR = "awaiting_supervisor", "Awaiting the supervisor's signature"
    SIGNED = "signed", "Signed"


class KeepsSetting:
    """A model that keeps the setting of the row its `setting_from` relation names (a record its
    session's, an action, decision or flag its record's; issue 14): set from it when first saved. A row
    read without its setting (`only()`) is not made to read it."""

    setting_from = "record"

    def save(self, *args, **kwargs):
        source = self.setting_from
        if self._state.adding and self.__dict__.get("setting_id") is None and getattr(self, f"{source}_id"):
            self.setting_id = getattr(self, source).setting_id
        super().save(*args, **kwargs)


class KeptSettingQuerySet(models.QuerySet):
    """The rows of a `KeepsSetting` model: `bulk_create` fills in their settings as `save` does, from the
    related rows already loaded, else from one query of the others' settings."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        field = self.model._meta.get_field(self.model.setting_from)
        missing = [o for o in objs if o.setting_id is None and getattr(o, field.attname) is not None]
        unloaded = {getattr(o, field.attname) for o in missing if not field.is_cached(o)}
        settings = (
            dict(field.related_model.objects.filter(pk__in=unloaded).values_list("pk", "setting_id"))
            if unloaded
            else {}
        )
        for o in missing:
            cached = field.is_cached(o)
            o.setting_id = getattr(o, field.name).setting_id if cached else settings.get(getattr(o, field.attname))
        return super().bulk_create(objs, *args, **kwargs)


class RecordQuerySet(KeptSettingQuerySet):
    def of_participant(self, staff):
        """Records the person wrote (as supervisor) or was supervised in, in their organisation. Their ids
        are worked out first and looked up by key (`InArray`): as `IN (subquery)` PostgreSQL hashed them
        against every record of the organisation, a scan of the trust's 77,000 for a supervisor of 600."""
        return self.filter(InArray("pk", participant_record_ids(staff)), organisation_id=staff.organisation_id)


def participant_record_ids(staff):
    """The ids of the records the person wrote or was supervised in: a UNION of two index scans (records by
    supervisor; records of the sessions the attendees' index lists for them). An OR across the attendees
    join reads every record of every organisation and needs a DISTINCT; this reads the person's rows only."""
    wrote = Record.objects.filter(supervisor_id=staff.id).order_by().values("pk")
    attended = Record.objects.filter(session_id__in=attended_session_ids(staff.id)).order_by().values("pk")
    return wrote.union(attended)


class Record(KeepsSetting, models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="records")
    session = models.OneToOneField(Session, on_delete=models.PROTECT, related_name="record")
    # The session's setting, kept on the record (set from the session when the record is made, and moved
    # with it: `Session.save`) so that a setting's records, actions, decisions and flags are found by an
    # index on the record rather than through every session of the setting (issue 14).
    setting = models.ForeignKey(Setting, on_delete=models.PROTECT, related_name="+", editable=False)
    template_version = models.ForeignKey(RecordTemplateVersion, on_delete=models.PROTECT, related_name="records")
    supervisor = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="records_written")
    status = models.CharField(max_length=24, choices=RecordStatus.choices, default=RecordStatus.DRAFT)
    previous_record = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_records"
    )
    previous_notes_agreed = models.BooleanField(
        default=False, help_text="Both agreed the notes of the previous session (seed 000)."
    )
    supervisee_feedback = models.TextField(
        blank=True, help_text="How the supervisee feels at the end, and how the supervisor could support them better."
    )
    disagreement_rationale = models.TextField(
        blank=True, help_text="Why something is recorded despite the supervisee's disagreement (seed 002)."
    )
    # Rises with every change of content; signatures name the revision they signed.
    revision = models.PositiveIntegerField(default=1)
    submitted_at = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the signed content.")
    # The names the content shows, as they were at the first signature of this revision (people by code,
    # the organisation, setting and group): a later rename changes neither what the record says nor its
    # hash. Empty while nobody has signed; cleared when a change voids the signatures.
    names_as_signed = models.JSONField(default=dict, blank=True)
    pdf_path = models.CharField(max_length=300, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_generated_at = models.DateTimeField(null=True, blank=True)
    # How many locked addenda the stored PDF shows: each addendum makes a new file beside the first.
    pdf_addenda = models.PositiveSmallIntegerField(default=0)
    # When the PDF's render was last queued: the sweep (records/late_files.py) queues it again only
    # once this is a few minutes old, so two sweeps, or a sweep and a download, queue it once.
    pdf_queued_at = models.DateTimeField(null=True, blank=True)
    legal_hold = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RecordQuerySet.as_manager()
    setting_from = "session"  # the setting kept (`KeepsSetting`) is the session's

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="signed") | Q(locked_at__isnull=False, content_hash__gt=""),
                name="record_signed_is_locked_with_hash",
            ),
        ]
        indexes = [
            # A supervisor's records by status (awaiting signature lists).
            models.Index(fields=["supervisor", "status"], name="record_supervisor_status_idx"),
            models.Index(fields=["organisation", "status"], name="record_org_status_idx"),
            # /records/verify/: an upload byte for byte a stored copy is found by its hash, unparsed.
            models.Index(fields=["organisation", "pdf_sha256"], name="record_org_pdf_sha256_idx"),
            # The dashboard's coverage (supervision/dashboard/coverage.py, `signed_q`): whether a half
            # term's held session has a signed record, probed for each session by an index-only scan
            # instead of a scan of every record of the trust once a half term.
            models.Index(fields=["session"], condition=Q(status="signed"), name="record_signed_session_idx"),
            # A setting's records by status: the dashboard's records awaiting signature (`_in_settings`).
            models.Index(fields=["setting", "status"], name="record_setting_status_idx"),
            # The PDF sweep: signed records still without their file.
            models.Index(
                fields=["locked_at"], condition=Q(status="signed", pdf_path=""), name="record_pdf_missing_idx"
            ),
        ]

    def __str__(self):
        return f"Record of {self.session}"

    @property
    def is_locked(self):
        return self.status == RecordStatus.SIGNED


class RecordSection(models.Model):
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="sections")
    template_section = models.ForeignKey(TemplateSection, on_delete=models.PROTECT, related_name="+")
    discussion = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Something written in the section (more than spaces), kept by the database with the text: the
    # dashboard's balance of functions counts a year's written sections without reading their text (the
    # trust's 100,000 a year: issue 14).
    written = models.GeneratedField(
        expression=GreaterThan(Length(Trim("discussion")), 0), output_field=models.BooleanField(), db_persist=True
    )

    class Meta:
        ordering = ["template_section__order"]
        constraints = [
            models.UniqueConstraint(fields=["record", "template_section"], name="record_section_unique"),
        ]

    def __str__(self):
        return self.template_section.title


class ActionStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    DROPPED = "dropped", "Dropped"


class ActionQuerySet(KeptSettingQuerySet):
    def open(self):
        return self.filter(status=ActionStatus.OPEN)

    def overdue(self, today=None):
        return self.open().filter(due_date__lt=today or timezone.localdate())


class Action(KeepsSetting, models.Model):
    """Agreed at the end of a session and reviewed at the next (seeds 000 and 002)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="actions")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="actions")
    # The record's setting (its session's), kept on the action as on the record: a setting's overdue
    # actions are read from an index of open actions by setting and due date (issue 14).
    setting = models.ForeignKey(Setting, on_delete=models.PROTECT, related_name="+", editable=False)
    section = models.ForeignKey(RecordSection, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions")
    description = models.CharField(max_length=500)
    owner = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="actions")
    due_date = models.DateField()
    status = models.CharField(max_length=10, choices=ActionStatus.choices, default=ActionStatus.OPEN)
    done_at = models.DateTimeField(null=True, blank=True)
    done_note = models.CharField(max_length=500, blank=True)
    # The record where the action was reviewed, and what was decided there.
    reviewed_in = models.ForeignKey(
        Record, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviewed_actions"
    )
    review_outcome = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ActionQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [
            # "My actions": open ones of one owner by due date.
            models.Index(fields=["owner", "status", "due_date"], name="action_owner_status_idx"),
            # Open actions by organisation and due date: the reminder sweep's finders (`_open_actions`: due
            # by the next school day, overdue within the look-back) and the dashboard's overdue actions.
            models.Index(
                fields=["organisation", "due_date"], condition=Q(status="open"), name="action_open_org_due_idx"
            ),
            # Open actions by setting and due date: the dashboard's overdue actions of chosen settings.
            models.Index(
                fields=["setting", "due_date"], condition=Q(status="open"), name="action_open_setting_due_idx"
            ),
        ]

    def __str__(self):
        return self.description

    def is_overdue(self, today=None):
        return self.status == ActionStatus.OPEN and self.due_date < (today or timezone.localdate())


class SafeguardingDecisionQuerySet(KeptSettingQuerySet):
    def awaiting_confirmation(self):
        """Decisions waiting for their key person to confirm them on the child's file: those of signed
        records. Until both sign, a decision may still change or be removed, and nobody is told of it; the
        key person is emailed, and the reminders run, from the signing. Every page counts these and only
        these (the key person's actions, the safeguarding page, the dashboard, the notification centre)."""
        return self.filter(confirmed_at__isnull=True, record__status=RecordStatus.SIGNED)


class SafeguardingDecision(KeepsSetting, models.Model):
    """A decision about a child, which the key person records on the child's file (seeds 000, 001)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="safeguarding_decisions")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="decisions")
    # The record's setting (its session's), kept as on the record (issue 14).
    setting = models.ForeignKey(Setting, on_delete=models.PROTECT, related_name="+", editable=False)
    child_reference = models.CharField(
        max_length=100, help_text="As used in the setting's child-protection system (never the child's name)."
    )
    decision = models.TextField()
    key_person = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="decisions_to_record")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    recorded_on = models.DateField(null=True, blank=True, help_text="When it went on the child's file.")
    external_reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SafeguardingDecisionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(confirmed_at__isnull=True) | Q(recorded_on__isnull=False),
                name="decision_confirmed_has_date",
            ),
        ]
        indexes = [
            # Unconfirmed decisions of one key person (reminders, their list).
            models.Index(fields=["key_person", "confirmed_at"], name="decision_key_person_idx"),
            # Unconfirmed decisions of chosen settings: the dashboard's and the safeguarding follow-up's.
            models.Index(fields=["setting"], condition=Q(confirmed_at__isnull=True), name="decision_open_setting_idx"),
        ]

    def __str__(self):
        return f"Decision about {self.child_reference}"


class FlagKind(models.TextChoices):
    """Seed 001's confidentiality table: issues the supervisor has a duty to report."""

    DISREPUTE = "disrepute", "Behaviour or activities which bring the setting into disrepute"
    HARM = "harm", "Harm to self or others"
    GROSS_MISCONDUCT = "gross_misconduct", "Gross misconduct"
    CHILD_PROTECTION = "child_protection", "Breach of child protection policies"
    DISCIPLINE = "discipline", "Discipline breaches"
    PERFORMANCE_RISK = "performance_risk", "Performance or capability putting children's safety at risk"
    SIGNIFICANT_IMPACT = "significant_impact", "Information with significant impact on the organisation"


class ConfidentialityFlag(KeepsSetting, models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="confidentiality_flags")
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="flags")
    # The record's setting (its session's), kept as on the record (issue 14).
    setting = models.ForeignKey(Setting, on_delete=models.PROTECT, related_name="+", editable=False)
    kind = models.CharField(max_length=30, choices=FlagKind.choices)
    note = models.CharField(max_length=500, blank=True, help_text="For the DSL and head: what, without detail.")
    raised_by = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolution = models.CharField(max_length=500, blank=True)

    objects = KeptSettingQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at"]
        constraints = [models.UniqueConstraint(fields=["record", "kind"], name="flag_unique_kind_per_record")]
        indexes = [
            # Open flags of chosen settings: the dashboard's escalations and the safeguarding follow-up's.
            models.Index(fields=["setting"], condition=Q(resolved_at__isnull=True), name="flag_open_setting_idx"),
        ]

    def __str__(self):
        return self.get_kind_display()


class CommentKind(models.TextChoices):
    COMMENT = "comment", "Comment"
    DISAGREEMENT = "disagreement", "Disagreement"


class RecordComment(models.Model):
    """The supervisee's comments and disagreements stay in the record (seed 002)."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=CommentKind.choices, default=CommentKind.COMMENT)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.author}"


class Addendum(models.Model):
    """The only way to add to a signed record; signed in its turn by everyone who signed the record."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="addenda")
    author = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="+")
    author_name = models.CharField(max_length=200, blank=True, help_text="The author's name when they wrote it.")
    text = models.TextField()
    content_hash = models.CharField(max_length=64)
    locked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Addendum to {self.record}"


class SignatureCapacity(models.TextChoices):
    SUPERVISEE = "supervisee", "Supervisee"
    PARTICIPANT = "participant", "Group participant"
    SUPERVISOR = "supervisor", "Supervisor"


class Signature(models.Model):
    """Who signed, in which capacity, when, and the SHA-256 of exactly what they signed."""

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="signatures")
    addendum = models.ForeignKey(Addendum, null=True, blank=True, on_delete=models.CASCADE, related_name="signatures")
    signer = models.ForeignKey(StaffMember, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(max_length=200, blank=True, help_text="The signer's name when they signed.")
    capacity = models.CharField(max_length=12, choices=SignatureCapacity.choices)
    signed_at = models.DateTimeField(default=timezone.now)
    content_hash = models.CharField(max_length=64)
    revision = models.PositiveIntegerField()
    voided_at = models.DateTimeField(null=True, blank=True, help_text="Set when the content changed after signing.")

    class Meta:
        ordering = ["signed_at", "id"]
        constraints = [
            # One standing signature per person on a record, and on each addendum.
            models.UniqueConstraint(
                fields=["record", "signer"],
                condition=Q(voided_at__isnull=True, addendum__isnull=True),
                name="signature_one_per_signer",
            ),
            models.UniqueConstraint(
                fields=["addendum", "signer"],
                condition=Q(voided_at__isnull=True, addendum__isnull=False),
                name="signature_one_per_signer_addendum",
            ),
            models.CheckConstraint(condition=Q(revision__gte=1), name="signature_revision_positive"),
        ]

    def __str__(self):
        return f"{self.get_capacity_display()} {self.signer} at {timezone.localtime(self.signed_at):%a %-d %b %Y %H:%M}"


# --- Oversight: reasoned access, auditor grants, exports ----------------------------------------------


class RecordAccess(models.Model):
    """A head or DSL who is not the supervisor read a record's narrative, having said why.

    The reason opens the narrative to that person for a short while; the supervisee sees every access.
    """

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="accesses")
    viewer = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="record_accesses")
    capacity = models.CharField(max_length=20, default="reasoned", help_text="reasoned (head or DSL) or auditor")
    reason = models.TextField()
    granted_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-granted_at"]
        indexes = [models.Index(fields=["record", "viewer", "expires_at"], name="record_access_lookup_idx")]

    def __str__(self):
        return f"{self.viewer} read {self.record} ({self.reason[:40]})"


class AuditorGrant(models.Model):
    """An auditor's read-only scope: some settings, sessions in a date range, until an expiry.

    django-guardian holds the per-object permission (`records.use_auditorgrant` on this grant for the
    auditor's user); the dates and settings here say what it covers.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="auditor_grants")
    auditor = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="auditor_grants")
    settings = models.ManyToManyField(Setting, related_name="auditor_grants")
    covers_from = models.DateField(help_text="Sessions from this day ...")
    covers_until = models.DateField(help_text="... to this day.")
    expires_at = models.DateTimeField(help_text="After this the auditor sees nothing.")
    purpose = models.CharField(max_length=300, blank=True)
    granted_by = models.ForeignKey(StaffMember, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # Separation of duties: a grant opens nothing until a second person approves it.
    approved_by = models.ForeignKey(StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("use_auditorgrant", "Read records inside this grant")]
        constraints = [
            models.CheckConstraint(condition=Q(covers_until__gte=models.F("covers_from")), name="grant_dates_in_order"),
            # The second person is neither the one who asked for the grant nor the auditor.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | (~Q(approved_by=models.F("granted_by")) & ~Q(approved_by=models.F("auditor"))),
                name="grant_approved_by_second_person",
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | Q(approved_at__isnull=False), name="grant_approval_dated"
            ),
        ]

    def __str__(self):
        return f"Audit grant for {self.auditor} until {timezone.localtime(self.expires_at):%a %-d %b %Y}"

    def is_live(self, now=None):
        now = now or timezone.now()
        return self.approved_at is not None and self.revoked_at is None and self.expires_at > now

    def state(self, now=None) -> str:
        """ "revoked", "expired", "pending" (awaiting a second person's approval) or "live"."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "live" if self.approved_at is not None else "pending"


class ExportJob(models.Model):
    class Kind(models.TextChoices):
        AUDIT_ZIP = "audit_zip", "Signed records with a manifest"
        SUBJECT_ACCESS = "subject_access", "Subject access export"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="export_jobs")
    requested_by = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="export_jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    grant = models.ForeignKey(AuditorGrant, null=True, blank=True, on_delete=models.SET_NULL, related_name="exports")
    subject = models.ForeignKey(
        StaffMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="subject_exports"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    file_path = models.CharField(max_length=300, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # When the job was last queued, and when a worker last showed it was working on it (claimed it, or
    # wrote its progress): the sweep queues a job again once both are a few minutes old.
    queued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # An auditor's ZIP whose records have PDFs not yet stored waits while the workers make them: meanwhile
    # `done` of `total` counts the PDFs made, each one a heartbeat (records.tasks.render_record_pdf).
    making_pdfs = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.get_status_display()})"

    @property
    def percent(self):
        return 100 if self.status == self.Status.DONE else int(100 * self.done / self.total) if self.total else 0


class SigningCertificate(models.Model):
    """An organisation's own certificate for signing record PDFs, uploaded as a PKCS#12 file.

    The certificate and its chain are public; the private key is kept encrypted (PKCS#8, with a key derived
    from SECRET_KEY, records/certificates.py), never as it was uploaded, and the file's password is not kept
    at all. The current one (not replaced) signs every PDF made after it; older ones stay so the PDFs they
    signed still check on /records/verify/.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="signing_certificates")
    subject = models.CharField(max_length=255)
    issuer = models.CharField(max_length=255)
    serial_number = models.CharField(max_length=80)
    fingerprint_sha256 = models.CharField(max_length=64)
    not_valid_before = models.DateTimeField()
    not_valid_after = models.DateTimeField()
    certificate_pem = models.TextField()
    chain_pem = models.TextField(blank=True, help_text="The issuing certificates that came in the file.")
    key_encrypted = models.TextField()
    uploaded_by = models.ForeignKey(StaffMember, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    replaced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation"], condition=Q(replaced_at__isnull=True), name="signing_certificate_one_current"
            ),
        ]

    def __str__(self):
        return f"{self.subject} (issued by {self.issuer})"
