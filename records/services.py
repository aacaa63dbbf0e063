"""The record's life (DESIGN section 4): draft, submit, the supervisee agrees and signs or comments,
the supervisor signs, the record locks; afterwards only addenda, signed in their turn.

Every write checks the record's state here, not in the views: a supervisee cannot edit the notes,
a supervisor cannot sign first, a change after a signature voids it, and nothing changes once signed.
"""

import hashlib
import json
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_event
from accounts.models import StaffMember
from accounts.reauth import confirm_password
from supervision.models import InformalNote, NotificationKind, Session, SessionKind, SessionStatus
from supervision.notify import ACTION_KINDS, DECISION_KINDS, SIGNATURE_KINDS, notifications_done

from .builtin import ensure_builtin_templates
from .models import (
    Action,
    ActionStatus,
    Addendum,
    CommentKind,
    ConfidentialityFlag,
    Record,
    RecordComment,
    RecordSection,
    RecordStatus,
    RecordTemplate,
    SafeguardingDecision,
    SettingDefaultTemplate,
    Signature,
    SignatureCapacity,
)


def _user(staff):
    return staff.user if staff is not None else None


# --- Content and hashing ------------------------------------------------------------------------


def names_now(record: Record) -> dict:
    """The names the record's content shows, as they are now: the people by code, and the organisation,
    setting and group. What `record_sign` freezes at the first signature."""
    session = record.session
    people = [record.supervisor, *session.attendees.select_related("user")]
    people += [a.owner for a in record.actions.select_related("owner__user")]
    people += [d.key_person for d in record.decisions.select_related("key_person__user")]
    people += [c.author for c in record.comments.select_related("author__user")]
    return {
        "people": {str(p.code): p.full_name for p in people},
        "organisation": record.organisation.name,
        "setting": session.setting.name,
        "group": session.group.name if session.group_id else None,
        "boundaries": session.group.confidentiality_boundaries if session.group_id else None,
    }


def name_as_signed(record: Record, staff: StaffMember) -> str:
    """The person's name as the record was signed with it (their name now while nobody has signed)."""
    return (record.names_as_signed or {}).get("people", {}).get(str(staff.code)) or staff.full_name


def mark_name_as_signed(person: StaffMember, as_signed: str) -> StaffMember:
    """For display (templates/records/includes/name_as_signed.html): the name the record was signed with,
    and whether the person has been renamed since."""
    person.name_as_signed = as_signed or person.full_name
    person.renamed = person.name_as_signed != person.full_name
    return person


def record_content(record: Record) -> dict:
    """Everything the signatures cover, in a canonical form (the PDF shows the same). Names come from
    `names_as_signed` once someone has signed, so renaming a person, the organisation, a setting or a
    group afterwards changes neither the content nor its hash."""
    session = record.session
    frozen = record.names_as_signed or {}

    def name(staff):
        return name_as_signed(record, staff)

    def as_signed(key, now):
        return frozen.get(key, now)

    group = session.group if session.group_id else None
    return {
        "record": str(record.code),
        "organisation": as_signed("organisation", record.organisation.name),
        "setting": as_signed("setting", session.setting.name),
        "session": {
            "kind": session.kind,
            "starts_at": session.starts_at.isoformat(),
            "ends_at": session.ends_at.isoformat(),
            "group": as_signed("group", group.name if group else None),
            "boundaries": as_signed("boundaries", group.confidentiality_boundaries if group else None),
        },
        "supervisor": {"code": str(record.supervisor.code), "name": name(record.supervisor)},
        "supervisees": sorted(
            ({"code": str(s.code), "name": name(s)} for s in session.attendees.all()), key=lambda p: p["code"]
        ),
        "template": {"name": record.template_version.template.name, "version": record.template_version.number},
        "previous_notes_agreed": record.previous_notes_agreed,
        "sections": [
            {"title": s.template_section.title, "function": s.template_section.function, "discussion": s.discussion}
            for s in record.sections.select_related("template_section").order_by("template_section__order")
        ],
        "actions": [
            {
                "description": a.description,
                "owner": name(a.owner),
                "due": a.due_date.isoformat(),
                "section": a.section.template_section.title if a.section_id else None,
            }
            for a in record.actions.select_related("owner__user", "section__template_section").order_by("id")
        ],  # fmt: skip
        "decisions": [
            {"child": d.child_reference, "decision": d.decision, "key_person": name(d.key_person)}
            for d in record.decisions.select_related("key_person__user").order_by("id")
        ],
        "flags": sorted(f.kind for f in record.flags.all()),
        "comments": [
            {"author": name(c.author), "kind": c.kind, "text": c.text, "at": c.created_at.isoformat()}
            for c in record.comments.select_related("author__user").order_by("id")
        ],
        "disagreement_rationale": record.disagreement_rationale,
        "supervisee_feedback": record.supervisee_feedback,
    }


def freeze_names(record: Record) -> None:
    """Keep the names the content shows as they are now (at a revision's first signature)."""
    record.names_as_signed = names_now(record)
    Record.objects.filter(pk=record.pk).update(names_as_signed=record.names_as_signed)


def content_hash(record: Record) -> str:
    return content_digest(record_content(record))


def content_digest(content: dict) -> str:
    """The SHA-256 of content from `record_content`, in its canonical JSON."""
    payload = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --- Guards -------------------------------------------------------------------------------------


def _require_supervisor(record: Record, staff: StaffMember) -> None:
    if staff.pk != record.supervisor_id:
        raise PermissionDenied("Only the supervisor writes the record.")


def _require_participant(record: Record, staff: StaffMember) -> None:
    if not record.session.attendees.filter(pk=staff.pk).exists():
        raise PermissionDenied("Only the people supervised in the session do this.")


def _require_editable(record: Record) -> None:
    """Until it locks the supervisor may revise; the change voids any signature and returns it to draft."""
    if record.status == RecordStatus.SIGNED:
        raise ValidationError("The record is signed and locked: add an addendum instead.")


def _changed(record: Record, *, actor: StaffMember, what: str) -> None:
    """A change of content: raise the revision and void any standing signature (back to draft)."""
    record.revision += 1
    voided = Signature.objects.filter(record=record, addendum__isnull=True, voided_at__isnull=True).update(
        voided_at=timezone.now()
    )
    fields = ["revision", "updated_at"]
    if record.names_as_signed:
        # Nobody has signed the new revision: its first signature takes the names of that moment.
        record.names_as_signed = {}
        fields.append("names_as_signed")
    if voided or record.status != RecordStatus.DRAFT:
        record.status = RecordStatus.DRAFT
        fields.append("status")
    record.save(update_fields=fields)
    if voided:
        audit_event(
            action="record.signatures_voided",
            actor=_user(actor),
            obj=record,
            details={"because": what, "signatures": voided},
        )


def _lock_record(record: Record) -> Record:
    return Record.objects.select_for_update().select_related("session", "supervisor__user").get(pk=record.pk)


# --- Starting ------------------------------------------------------------------------------------


def template_for(session: Session) -> RecordTemplate:
    builtins = ensure_builtin_templates(session.organisation)
    if session.kind == SessionKind.GROUP:
        return builtins["group"]
    default = SettingDefaultTemplate.objects.filter(setting=session.setting).select_related("template").first()
    return default.template if default and not default.template.for_groups else builtins["kcc-1-1"]


@transaction.atomic
def record_start(*, actor: StaffMember, session: Session, request=None) -> Record:
    """The supervisor starts the record of a session that has taken place (it is marked held)."""
    if actor.pk != session.supervisor_id:
        raise PermissionDenied("Only the supervisor records the session.")
    existing = Record.objects.filter(session=session).first()
    if existing:
        return existing
    if session.status in (SessionStatus.CANCELLED, SessionStatus.MISSED):
        raise ValidationError("A cancelled or missed session has no record.")
    if session.starts_at > timezone.now():
        raise ValidationError("The record is written once the session has started.")
    if session.status == SessionStatus.SCHEDULED:
        session.status = SessionStatus.HELD
        session.save(update_fields=["status", "updated_at"])
    version = template_for(session).current_version()
    attendee_ids = list(session.attendees.values_list("id", flat=True))
    previous = (
        Record.objects.filter(session__attendees__in=attendee_ids, session__starts_at__lt=session.starts_at)
        .filter(session__kind=session.kind)
        .order_by("-session__starts_at")
        .first()
    )
    record = Record.objects.create(
        organisation=session.organisation,
        session=session,
        template_version=version,
        supervisor=session.supervisor,
        previous_record=previous,
    )
    RecordSection.objects.bulk_create(RecordSection(record=record, template_section=s) for s in version.sections.all())
    # Significant informal notes are revisited here (seed 001); only ever in a 1:1, never in a group.
    InformalNote.objects.to_revisit_in(session).filter(revisited_in__isnull=True).update(revisited_in=session)
    audit_event(
        action="record.started", actor=_user(actor), obj=record, request=request, details={"template": str(version)}
    )
    return record


# --- Writing (supervisor, draft only) ------------------------------------------------------------


@transaction.atomic
def section_save(*, actor: StaffMember, section: RecordSection, discussion: str, request=None) -> bool:
    """Autosave of one section's text. Returns False when nothing changed."""
    record = _lock_record(section.record)
    _require_supervisor(record, actor)
    _require_editable(record)
    if section.discussion == discussion:
        return False
    section.discussion = discussion
    section.save(update_fields=["discussion", "updated_at"])
    _changed(record, actor=actor, what=f"section {section.template_section.title}")
    return True


@transaction.atomic
def record_set_review(*, actor: StaffMember, record: Record, previous_notes_agreed: bool, request=None) -> None:
    record = _lock_record(record)
    _require_supervisor(record, actor)
    _require_editable(record)
    if record.previous_notes_agreed != previous_notes_agreed:
        record.previous_notes_agreed = previous_notes_agreed
        record.save(update_fields=["previous_notes_agreed", "updated_at"])
        _changed(record, actor=actor, what="previous notes agreed")


@transaction.atomic
def action_add(
    *, actor: StaffMember, record: Record, description: str, owner: StaffMember, due_date: date,
    section: RecordSection | None = None, request=None,
) -> Action:  # fmt: skip
    record = _lock_record(record)
    _require_supervisor(record, actor)
    _require_editable(record)
    if owner.organisation_id != record.organisation_id:
        raise ValidationError({"owner": "The owner must be in the organisation."})
    if section is not None and not section.template_section.takes_actions:
        raise ValidationError({"section": "This section does not take actions."})
    action = Action.objects.create(
        organisation=record.organisation, record=record, section=section, description=description.strip(),
        owner=owner, due_date=due_date,
    )  # fmt: skip
    _changed(record, actor=actor, what="action added")
    audit_event(action="record.action_added", actor=_user(actor), obj=record, request=request)
    return action


@transaction.atomic
def action_remove(*, actor: StaffMember, action: Action, request=None) -> None:
    record = _lock_record(action.record)
    _require_supervisor(record, actor)
    _require_editable(record)
    action.delete()
    _changed(record, actor=actor, what="action removed")


@transaction.atomic
def previous_action_review(*, actor: StaffMember, record: Record, action: Action, outcome: str, request=None) -> None:
    """At the next session each open action of the previous record is done, carried forward or dropped."""
    record = _lock_record(record)
    _require_supervisor(record, actor)
    _require_editable(record)
    if action.record_id != record.previous_record_id:
        raise ValidationError("Only the previous record's actions are reviewed here.")
    if outcome not in ("done", "carried_forward", "dropped"):
        raise ValidationError("Choose done, carried forward or dropped.")
    action.reviewed_in = record
    action.review_outcome = outcome
    if outcome == "done":
        action.status, action.done_at = ActionStatus.DONE, action.done_at or timezone.now()
    elif outcome == "dropped":
        action.status = ActionStatus.DROPPED
    else:
        action.status = ActionStatus.OPEN
    action.save()
    audit_event(
        action="record.previous_action_reviewed", actor=_user(actor), obj=record, request=request,
        details={"action": str(action.code), "outcome": outcome},
    )  # fmt: skip


@transaction.atomic
def decision_add(
    *, actor: StaffMember, record: Record, child_reference: str, decision: str, key_person: StaffMember, request=None
) -> SafeguardingDecision:
    record = _lock_record(record)
    _require_supervisor(record, actor)
    _require_editable(record)
    if key_person.organisation_id != record.organisation_id:
        raise ValidationError({"key_person": "The key person must be in the organisation."})
    made = SafeguardingDecision.objects.create(
        organisation=record.organisation, record=record, child_reference=child_reference.strip(),
        decision=decision.strip(), key_person=key_person,
    )  # fmt: skip
    _changed(record, actor=actor, what="safeguarding decision added")
    audit_event(
        action="record.decision_added", actor=_user(actor), obj=record, request=request,
        # Codes only: the trail shows the child reference to those who may read it (accounts/views_audit.py).
        details={"decision": str(made.code), "key_person": str(key_person.code)},
    )  # fmt: skip
    return made


@transaction.atomic
def decision_remove(*, actor: StaffMember, decision: SafeguardingDecision, request=None) -> None:
    record = _lock_record(decision.record)
    _require_supervisor(record, actor)
    _require_editable(record)
    decision.delete()
    _changed(record, actor=actor, what="safeguarding decision removed")


@transaction.atomic
def decision_confirm(
    *, actor: StaffMember, decision: SafeguardingDecision, recorded_on: date, external_reference: str, request=None
) -> None:
    """The key person confirms the decision is on the child's file. Allowed after locking: it is not
    part of the signed content but a follow-up of it."""
    if actor.pk != decision.key_person_id:
        raise PermissionDenied("Only the key person confirms the decision is on the child's file.")
    if decision.confirmed_at:
        raise ValidationError("This decision is already confirmed.")
    if recorded_on > timezone.localdate():
        raise ValidationError({"recorded_on": "The date it went on the child's file cannot be in the future."})
    decision.confirmed_at = timezone.now()
    decision.recorded_on = recorded_on
    decision.external_reference = external_reference.strip()
    decision.save(update_fields=["confirmed_at", "recorded_on", "external_reference"])
    notifications_done(object_type="decision", object_code=decision.code, kinds=DECISION_KINDS)
    details = {"decision": str(decision.code), "recorded_on": recorded_on.isoformat(), "reference": external_reference}
    audit_event(
        action="record.decision_confirmed", actor=_user(actor), obj=decision.record, request=request, details=details
    )


@transaction.atomic
def flag_raise(*, actor: StaffMember, record: Record, kind: str, note: str = "", request=None) -> ConfidentialityFlag:
    """A confidentiality flag (seed 001's table): the DSL and head are told at once."""
    record = _lock_record(record)
    _require_supervisor(record, actor)
    _require_editable(record)
    flag, created = ConfidentialityFlag.objects.get_or_create(
        record=record,
        kind=kind,
        defaults={"organisation": record.organisation, "raised_by": actor, "note": note.strip()},
    )
    if created:
        _changed(record, actor=actor, what="confidentiality flag raised")
        audit_event(
            action="record.flag_raised", actor=_user(actor), obj=record, request=request,
            details={"flag": str(flag.code)},
        )  # fmt: skip
        from .tasks import notify_flag

        flag_id = flag.id
        transaction.on_commit(lambda: notify_flag.delay(flag_id))
    return flag


@transaction.atomic
def record_set_rationale(*, actor: StaffMember, record: Record, rationale: str, request=None) -> None:
    record = _lock_record(record)
    _require_supervisor(record, actor)
    _require_editable(record)
    if record.disagreement_rationale != rationale.strip():
        record.disagreement_rationale = rationale.strip()
        record.save(update_fields=["disagreement_rationale", "updated_at"])
        _changed(record, actor=actor, what="rationale recorded")


# --- The life cycle -----------------------------------------------------------------------------


@transaction.atomic
def record_reopen(*, actor: StaffMember, record: Record, request=None) -> None:
    """The supervisor takes a submitted record back to revise it: standing signatures are voided."""
    record = _lock_record(record)
    _require_supervisor(record, actor)
    _require_editable(record)
    if record.status == RecordStatus.DRAFT:
        return
    _changed(record, actor=actor, what="reopened to revise")
    audit_event(action="record.reopened", actor=_user(actor), obj=record, request=request)


def _check_password(staff: StaffMember, password: str, *, request, purpose: str, obj) -> None:
    """Re-confirm the signer's password; called before the transaction, so failures count and stay audited."""
    confirm_password(user=staff.user, password=password, request=request, purpose=purpose, obj=obj)


@transaction.atomic
def record_submit(*, actor: StaffMember, record: Record, request=None) -> None:
    record = _lock_record(record)
    _require_supervisor(record, actor)
    if record.status != RecordStatus.DRAFT:
        raise ValidationError("Only a draft is submitted.")
    if not any(s.discussion.strip() for s in record.sections.all()):
        raise ValidationError("Write at least one section before submitting.")
    record.status = RecordStatus.AWAITING_SUPERVISEE
    record.submitted_at = timezone.now()
    record.save(update_fields=["status", "submitted_at", "updated_at"])
    audit_event(action="record.submitted", actor=_user(actor), obj=record, request=request)


@transaction.atomic
def record_set_feedback(*, actor: StaffMember, record: Record, feedback: str, request=None) -> None:
    """The supervisee's end-of-session feedback (seed 000, step 8), written before they sign."""
    record = _lock_record(record)
    _require_participant(record, actor)
    if record.status != RecordStatus.AWAITING_SUPERVISEE:
        raise ValidationError("Feedback is added while the record is with you to agree.")
    _save_feedback(record, actor=actor, feedback=feedback, request=request)


def _save_feedback(record: Record, *, actor: StaffMember, feedback: str, request=None) -> bool:
    """Store the feedback on the locked record if it changed: part of the signed content, so a change
    voids any signature already given (another participant's, in a group) and is audited."""
    feedback = feedback.strip()
    if record.supervisee_feedback == feedback:
        return False
    record.supervisee_feedback = feedback
    record.revision += 1
    record.names_as_signed = {}
    voided = Signature.objects.filter(record=record, addendum__isnull=True, voided_at__isnull=True).update(
        voided_at=timezone.now()
    )
    record.save(update_fields=["supervisee_feedback", "revision", "names_as_signed", "updated_at"])
    audit_event(
        action="record.feedback_saved", actor=_user(actor), obj=record, request=request,
        details={"revision": record.revision, "signatures_voided": voided, "characters": len(feedback)},
    )  # fmt: skip
    return True


@transaction.atomic
def record_comment(*, actor: StaffMember, record: Record, text: str, disagree: bool, request=None) -> None:
    """The supervisee comments or disagrees: the comment stays and the record returns to the supervisor."""
    record = _lock_record(record)
    _require_participant(record, actor)
    if record.status != RecordStatus.AWAITING_SUPERVISEE:
        raise ValidationError("You can comment while the record is with you to agree.")
    if not text.strip():
        raise ValidationError({"text": "Say what you would change, or why you disagree."})
    RecordComment.objects.create(
        record=record,
        author=actor,
        text=text.strip(),
        kind=CommentKind.DISAGREEMENT if disagree else CommentKind.COMMENT,
    )
    _changed(record, actor=actor, what="comment" if not disagree else "disagreement")
    audit_event(
        action="record.disagreed" if disagree else "record.commented", actor=_user(actor), obj=record, request=request
    )


def record_sign(
    *, actor: StaffMember, record: Record, password: str, feedback: str | None = None, request=None
) -> Signature:
    """Sign with the password. Supervisees (every group participant) first, then the supervisor, which locks.
    A supervisee's end-of-session `feedback`, when given, is saved in the same transaction, before the
    content is hashed: the signature covers it, and nothing typed beside the signature is lost."""
    _check_password(actor, password, request=request, purpose="record.sign", obj=record)
    return _record_sign(actor=actor, record=record, feedback=feedback, request=request)


@transaction.atomic
def _record_sign(*, actor: StaffMember, record: Record, feedback: str | None = None, request=None) -> Signature:
    record = _lock_record(record)
    attendees = list(record.session.attendees.all())
    if feedback is not None:
        if actor.pk == record.supervisor_id or not any(a.pk == actor.pk for a in attendees):
            raise PermissionDenied("Feedback comes from the people supervised.")
        if record.status != RecordStatus.AWAITING_SUPERVISEE:
            raise ValidationError("The record is not waiting for your signature.")
        if record.signatures.filter(addendum__isnull=True, voided_at__isnull=True, signer=actor).exists():
            raise ValidationError("You have already signed this record.")
        _save_feedback(record, actor=actor, feedback=feedback, request=request)
    standing = {s.signer_id for s in record.signatures.filter(addendum__isnull=True, voided_at__isnull=True)}
    if not standing:
        # The first signature of this revision fixes the names everyone after signs with.
        freeze_names(record)
    digest = content_hash(record)
    if actor.pk == record.supervisor_id:
        if record.status != RecordStatus.AWAITING_SUPERVISOR:
            raise ValidationError("The supervisor signs last, once the supervisee has agreed and signed.")
        capacity = SignatureCapacity.SUPERVISOR
    elif any(a.pk == actor.pk for a in attendees):
        if record.status != RecordStatus.AWAITING_SUPERVISEE:
            raise ValidationError("The record is not waiting for your signature.")
        if actor.pk in standing:
            raise ValidationError("You have already signed this record.")
        capacity = (
            SignatureCapacity.PARTICIPANT if record.session.kind == SessionKind.GROUP else SignatureCapacity.SUPERVISEE
        )
    else:
        raise PermissionDenied("Only the people in the session sign its record.")
    signature = Signature.objects.create(
        record=record, signer=actor, signer_name=actor.full_name, capacity=capacity, content_hash=digest,
        revision=record.revision,
    )  # fmt: skip
    standing.add(actor.pk)
    # The reminder to sign is answered; once the record locks, so is every reminder and escalation about it.
    notifications_done(
        object_type="record", object_code=record.code, kinds=[NotificationKind.SIGNATURE_PENDING], recipient=actor
    )
    if capacity == SignatureCapacity.SUPERVISOR:
        notifications_done(object_type="record", object_code=record.code, kinds=SIGNATURE_KINDS)
        record.status = RecordStatus.SIGNED
        record.locked_at = timezone.now()
        record.content_hash = digest
        record.pdf_queued_at = record.locked_at  # the sweep queues it again if it is not stored soon after
        record.save(update_fields=["status", "locked_at", "content_hash", "pdf_queued_at", "updated_at"])
        from .tasks import notify_decisions, render_record_pdf

        record_id = record.id
        transaction.on_commit(lambda: render_record_pdf.delay(record_id))
        transaction.on_commit(lambda: notify_decisions.delay(record_id))
    elif all(a.pk in standing for a in attendees):
        record.status = RecordStatus.AWAITING_SUPERVISOR
        record.save(update_fields=["status", "updated_at"])
    audit_event(
        action="record.signed", actor=_user(actor), obj=record, request=request,
        details={"capacity": capacity, "sha256": digest, "revision": record.revision},
    )  # fmt: skip
    return signature


# --- Addenda ------------------------------------------------------------------------------------


def addendum_hash(addendum: Addendum) -> str:
    payload = {"record": str(addendum.record.code), "record_sha256": addendum.record.content_hash,
               "author": addendum.author_name or addendum.author.full_name, "text": addendum.text}  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


@transaction.atomic
def addendum_add(*, actor: StaffMember, record: Record, text: str, request=None) -> Addendum:
    record = _lock_record(record)
    if record.status != RecordStatus.SIGNED:
        raise ValidationError("Addenda are for signed records; a draft is simply edited.")
    is_party = actor.pk == record.supervisor_id or record.session.attendees.filter(pk=actor.pk).exists()
    if not is_party:
        raise PermissionDenied("Only the people in the session add to its record.")
    if not text.strip():
        raise ValidationError({"text": "Write the addendum."})
    addendum = Addendum(record=record, author=actor, author_name=actor.full_name, text=text.strip())
    addendum.content_hash = addendum_hash(addendum)
    addendum.save()
    audit_event(action="record.addendum_added", actor=_user(actor), obj=record, request=request)
    return addendum


def addendum_sign(*, actor: StaffMember, addendum: Addendum, password: str, request=None) -> None:
    """Everyone who signed the record signs the addendum; when all have, it locks and the PDF is redone."""
    _check_password(actor, password, request=request, purpose="record.addendum_sign", obj=addendum.record)
    _addendum_sign(actor=actor, addendum=addendum, request=request)


@transaction.atomic
def _addendum_sign(*, actor: StaffMember, addendum: Addendum, request=None) -> None:
    addendum = Addendum.objects.select_for_update().select_related("record__session").get(pk=addendum.pk)
    record = addendum.record
    if addendum.locked_at:
        raise ValidationError("This addendum is already signed by everyone.")
    signers = {record.supervisor_id, *record.session.attendees.values_list("id", flat=True)}
    if actor.pk not in signers:
        raise PermissionDenied("Only the people in the session sign its addenda.")
    if addendum.signatures.filter(signer=actor, voided_at__isnull=True).exists():
        raise ValidationError("You have already signed this addendum.")
    capacity = SignatureCapacity.SUPERVISOR if actor.pk == record.supervisor_id else SignatureCapacity.SUPERVISEE
    Signature.objects.create(
        record=record, addendum=addendum, signer=actor, signer_name=actor.full_name, capacity=capacity,
        content_hash=addendum.content_hash, revision=record.revision,
    )  # fmt: skip
    if set(addendum.signatures.filter(voided_at__isnull=True).values_list("signer_id", flat=True)) >= signers:
        addendum.locked_at = timezone.now()
        addendum.save(update_fields=["locked_at"])
        Record.objects.filter(pk=record.pk).update(pdf_queued_at=addendum.locked_at)
        from .tasks import render_record_pdf

        record_id = record.id
        transaction.on_commit(lambda: render_record_pdf.delay(record_id))
    audit_event(action="record.addendum_signed", actor=_user(actor), obj=record, request=request)


# --- Actions page ---------------------------------------------------------------------------------


@transaction.atomic
def action_mark_done(*, actor: StaffMember, action: Action, note: str, request=None) -> None:
    if actor.pk not in (action.owner_id, action.record.supervisor_id):
        raise PermissionDenied("The action's owner, or the supervisor, marks it done.")
    if action.status != ActionStatus.OPEN:
        raise ValidationError("This action is not open.")
    action.status = ActionStatus.DONE
    action.done_at = timezone.now()
    action.done_note = note.strip()
    action.save(update_fields=["status", "done_at", "done_note"])
    notifications_done(object_type="action", object_code=action.code, kinds=ACTION_KINDS)
    audit_event(
        action="action.done",
        actor=_user(actor),
        obj=action.record,
        request=request,
        details={"action": str(action.code)},
    )
