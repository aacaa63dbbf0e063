"""The audit page's filters: who acted, on which object, doing what, and when.

For an organisation admin the choices come from the trail itself (the object types and actions that
occur), so a select never offers something that cannot match; an auditor, who sees only events about
records, is offered every record action. People are searched for by name or email: a trust has thousands.
"""

import uuid
from datetime import datetime, time, timedelta

from django import forms
from django.db.models import Q
from django.utils import timezone

from .forms import DateInput
from .models import AuditEvent, StaffMember

SYSTEM = "system"

# Groups of actions, by the part before the dot: (heading in the select, noun for a label).
ACTION_GROUPS = {
    "auth": ("Signing in", ""),
    "staff": ("Staff", "Person"),
    "contract": ("Agreements", "Agreement"),
    "session": ("Sessions", "Session"),
    "planner": ("Planner", "Plan"),
    "group": ("Groups", "Group"),
    "note": ("Notes", "Note"),
    "record": ("Records", "Record"),
    "action": ("Actions", "Action"),
    "template": ("Record forms", "Record form"),
    "calendar": ("Calendar", "Calendar"),
    "notifications": ("Notifications", "Notification"),
    "retention": ("Retention", "Retention"),
    "export": ("Exports", "Export"),
    "audit": ("Audit trail", "Audit trail"),
    "organisation": ("Organisation", "Organisation"),
    "setting": ("Settings", "Setting"),
}

# Labels that "noun + verb" would get wrong; the rest are built by `action_label`.
ACTION_LABELS = {
    "auth.signed_in": "Signed in",
    "auth.signed_out": "Signed out",
    "auth.signed_out_leaver": "Signed out after their leaving date",
    "auth.password_reset": "Reset their password",
    "auth.password_changed": "Changed their password",
    "auth.invitation_accepted": "Accepted an invitation",
    "auth.password_reconfirm_failed": "Entered a wrong password to confirm",
    "auth.provider_sign_in_refused": "Sign-in with Microsoft or Google refused",
    "organisation.identity_providers_changed": "Microsoft 365 and Google sign-in settings changed",
    "staff.created": "Person added",
    "staff.email_change_requested": "New sign-in address asked for",
    "staff.email_change_confirmed": "New sign-in address confirmed by the person",
    "staff.email_change_approved": "New sign-in address approved by a second admin",
    "staff.email_change_refused": "New sign-in address refused by the person",
    "staff.email_change_cancelled": "New sign-in address cancelled",
    "staff.email_changed": "Sign-in address changed",
    "staff.imported": "Staff imported from CSV",
    "staff.leaver_marked": "Leaving date set",
    "staff.legal_hold_set": "Legal hold set",
    "staff.legal_hold_released": "Legal hold released",
    "record.pdf_stored": "Record PDF stored",
    "record.pdf_downloaded": "Record PDF downloaded",
    "record.disagreed": "Record disagreed with",
    "retention.listed": "Listed for deletion (retention)",
    "retention.record_deleted": "Record deleted (retention)",
    "retention.notes_deleted": "Notes deleted (retention)",
    "notifications.preferences_changed": "Notification preferences changed",
    "demo.seeded": "Demo data created",
    "audit.viewed": "Audit trail viewed",
    "audit.exported": "Audit trail downloaded",
    "organisation.settings_changed": "Organisation settings changed",
    "organisation.signing_certificate_uploaded": "Signing certificate uploaded",
}

# What the object types are called on screen; others use their model name.
OBJECT_TYPES = {
    "staffmember": "Staff member",
    "contract": "Agreement",
    "session": "Session",
    "record": "Record",
    "supervisiongroup": "Group",
    "informalnote": "Note",
    "recordtemplate": "Record form",
    "halfterm": "Half term",
    "closureday": "Closure day",
    "exportjob": "Export",
    "auditorgrant": "Auditor grant",
    "setting": "Setting",
}


def action_label(action: str) -> str:
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    prefix, _, verb = action.partition(".")
    if not verb:
        return action.replace("_", " ").capitalize()
    noun = ACTION_GROUPS.get(prefix, ("", prefix.capitalize()))[1]
    return f"{noun} {verb.replace('_', ' ')}".strip().capitalize()


def object_type_label(object_type: str) -> str:
    return OBJECT_TYPES.get(object_type) or object_type.replace("_", " ").capitalize()


def _group_heading(prefix: str) -> str:
    if prefix in ACTION_GROUPS:
        return ACTION_GROUPS[prefix][0]
    return prefix.capitalize() or "Other"


def _grouped_actions(actions):
    """[("Records", [("record.*", "All (record.*)"), ("record.signed", "Record signed"), ...]), ...]"""
    groups: dict[str, list] = {}
    for action in actions:
        prefix, dot, _ = action.partition(".")
        groups.setdefault(prefix if dot else "", []).append(action)
    choices = []
    for prefix in sorted(groups, key=_group_heading):
        options = sorted(((a, action_label(a)) for a in groups[prefix]), key=lambda c: c[1])
        if prefix:
            options.insert(0, (f"{prefix}.*", f"All ({prefix}.*)"))
        choices.append((_group_heading(prefix), options))
    return choices


class SearchInput(forms.TextInput):
    input_type = "search"


class AuditFilterForm(forms.Form):
    # A search, not a select: a trust's trail has thousands of people in it.
    person = forms.CharField(
        label="Person",
        required=False,
        max_length=200,
        widget=SearchInput(attrs={"placeholder": "Name or email; \u201csystem\u201d for automatic"}),
    )
    name = forms.CharField(
        label="Name contains",
        required=False,
        max_length=200,
        widget=SearchInput(attrs={"placeholder": "Also finds people who have left"}),
    )
    action = forms.ChoiceField(label="Action", required=False)
    object_type = forms.ChoiceField(label="Object", required=False)
    object = forms.CharField(
        label="Object code or name",
        required=False,
        max_length=255,
        widget=SearchInput(attrs={"placeholder": "e.g. a record's code"}),
    )
    date_from = forms.DateField(label="From", required=False, widget=DateInput())
    date_to = forms.DateField(label="To", required=False, widget=DateInput())

    def __init__(self, *args, organisation, whole_trail=False, **kwargs):
        """With `whole_trail` (the viewer sees all of the organisation's) the choices of action and object
        are those in the trail, by one index probe a value rather than a DISTINCT over every event;
        otherwise (an auditor) the record actions the product writes."""
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        if whole_trail:
            actions = AuditEvent.objects.distinct_values(organisation.id, "action")
            object_types = [t for t in AuditEvent.objects.distinct_values(organisation.id, "object_type") if t]
        else:
            # An auditor sees only events about records: every record action the product writes is offered,
            # from its vocabulary rather than the trail. Finding which occur meant reading every event of
            # every record the grants cover (60 ms of a 110 ms page at 12,000 staff; issue 14); one that
            # does not occur in the grant's records just matches nothing.
            from .audit_words import ACTION_SENTENCES  # it imports this module

            actions = sorted(action for action in ACTION_SENTENCES if action.startswith("record."))
            object_types = ["record"]
        self.fields["action"].choices = [("", "Any action"), *_grouped_actions(actions)]
        self.fields["object_type"].choices = [
            ("", "Any object"),
            *sorted(((t, object_type_label(t)) for t in object_types), key=lambda c: c[1]),
        ]
        for name, field in self.fields.items():
            field.widget.attrs["class"] = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            field.widget.attrs["id"] = f"audit_{name}"

    def clean_person(self):
        """A name or email (any part), "system", or a person's code (the links from their page)."""
        text = self.cleaned_data["person"].strip()
        if not text or text.lower() == SYSTEM:
            return text.lower()
        try:
            code = uuid.UUID(text)
        except ValueError:
            return text
        person = StaffMember.objects.filter(organisation=self.organisation, code=code).first()
        if person is None:
            raise forms.ValidationError("Nobody in your organisation has this code.")
        self.person = person
        return str(code)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date must be on or after the start date.")
        return cleaned

    def applied(self) -> dict:
        """The filters in use, as typed: what the audit trail records about a visit to this page."""
        return {
            name: str(value).strip()
            for name, value in self.cleaned_data.items()
            if value not in (None, "") and str(value).strip()
        }

    def filter(self, events):
        data = self.cleaned_data
        person = data.get("person")
        if person == SYSTEM:
            events = events.filter(actor__isnull=True, actor_name="")
        elif hasattr(self, "person"):
            events = events.filter(actor_id=self.person.user_id)
        elif person:
            # The organisation's people whose name or email contains it, leavers included; one subquery.
            people = StaffMember.objects.filter(organisation=self.organisation).filter(
                Q(user__full_name__icontains=person) | Q(user__email__icontains=person)
            )
            events = events.filter(actor_id__in=people.values("user_id"))
        if name := data.get("name", "").strip():
            events = events.filter(actor_name__icontains=name)
        action = data.get("action")
        if action and action.endswith(".*"):
            events = events.filter(action__startswith=action[:-1])
        elif action:
            events = events.filter(action=action)
        if data.get("object_type"):
            events = events.filter(object_type=data["object_type"])
        if text := data.get("object", "").strip():
            events = events.filter(Q(object_code=_normalised_code(text)) | Q(object_repr__icontains=text))
        # Whole days in the organisation's time (Europe/London): "to" includes all of its day.
        if data.get("date_from"):
            events = events.filter(created_at__gte=_local_midnight(data["date_from"]))
        if data.get("date_to"):
            events = events.filter(created_at__lt=_local_midnight(data["date_to"] + timedelta(days=1)))
        return events


def _normalised_code(text: str) -> str:
    """Codes are stored as lower-case hyphenated UUIDs; accept them pasted in any form."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text


def _local_midnight(day):
    return timezone.make_aware(datetime.combine(day, time.min))
