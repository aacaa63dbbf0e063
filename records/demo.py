"""Demo records (called by `manage.py seed_demo` after the supervision demo).

Every held session gets a record. Older ones are signed by both (their PDFs are produced by the
worker once `make run` starts it); the latest ones show every other state: a draft, one waiting for
the supervisee, one waiting for the supervisor, a disagreement kept with a rationale, open and
overdue actions, and a safeguarding decision waiting for the key person's confirmation.
"""

import zlib
from datetime import timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, StaffMember
from supervision.models import Contract, Notification, Session, SessionStatus

from . import follow_up, services
from .models import Action, ActionStatus, Record, RecordStatus, SafeguardingDecision, Signature, SignatureCapacity
from .oversight import auditor_grant_approve, auditor_grant_create

NOTES = {
    "performance": "Talked through the class's progress this half term and the observation feedback. "
    "Strengths: clear modelling and good questioning; next step: more time for independent practice.",
    "development": "Reviewed progress against the appraisal targets. Agreed to look for a course on "
    "supporting pupils with speech and language needs.",
    "personal_support": "Feeling settled and well supported; workload is manageable since the new timetable. "
    "Mentioned feeling tired before half term; we agreed to keep an eye on it.",
}


# The function each demo supervisor tends to leave out (chosen by their email, so it varies between them
# but not between installations or test databases, whose ids differ).
NEGLECTED = ["development", "personal_support", "performance", None]


def _sign_for_demo(record: Record, when) -> None:
    """The demo's history was signed in the past: signatures are written directly with the right hash."""
    services.freeze_names(record)
    digest = services.content_hash(record)
    attendees = list(record.session.attendees.all())
    for attendee in attendees:
        Signature.objects.create(
            record=record, signer=attendee, signer_name=attendee.full_name, capacity=SignatureCapacity.SUPERVISEE,
            signed_at=when,
            content_hash=digest, revision=record.revision,
        )  # fmt: skip
    Signature.objects.create(
        record=record, signer=record.supervisor, signer_name=record.supervisor.full_name,
        capacity=SignatureCapacity.SUPERVISOR,
        signed_at=when + timedelta(hours=2), content_hash=digest, revision=record.revision,
    )  # fmt: skip
    Record.objects.filter(pk=record.pk).update(
        status=RecordStatus.SIGNED, locked_at=when + timedelta(hours=2), content_hash=digest, submitted_at=when
    )
    from .tasks import render_record_pdf

    record_id = record.id
    transaction.on_commit(lambda: render_record_pdf.delay(record_id))


def seed_demo(organisation: Organisation, today) -> None:
    sessions = list(
        Session.objects.filter(organisation=organisation, status=SessionStatus.HELD)
        .select_related("supervisor__user", "contract__supervisee__user", "setting")
        .order_by("starts_at")
    )
    latest_per_person = {}
    for session in sessions:
        latest_per_person[session.contract.supervisee_id if session.contract_id else session.id] = session.id
    latest = set(latest_per_person.values())
    for n, session in enumerate(sessions):
        supervisor = session.supervisor
        record = services.record_start(actor=supervisor, session=session)
        # Supervisors differ in what they make room for: each leaves one function out now and then, so
        # the dashboard's balance chart has something to say.
        habit = zlib.crc32(supervisor.user.email.encode())
        neglected = NEGLECTED[habit % len(NEGLECTED)]
        for section in record.sections.select_related("template_section"):
            function = section.template_section.function
            if function == neglected and (n + habit) % 3 != 0:
                continue
            services.section_save(actor=supervisor, section=section, discussion=NOTES[function])
        record.refresh_from_db()
        supervisee = session.contract.supervisee if session.contract_id else None
        if record.previous_record_id:
            services.record_set_review(actor=supervisor, record=record, previous_notes_agreed=True)
            # Last time's actions are reviewed: most were done by now, a few carried forward.
            for action in Action.objects.filter(record_id=record.previous_record_id, status=ActionStatus.OPEN):
                outcome = "carried_forward" if n % 7 == 0 else "done"
                services.previous_action_review(actor=supervisor, record=record, action=action, outcome=outcome)
            Action.objects.filter(reviewed_in=record, status=ActionStatus.DONE).update(done_at=session.starts_at)
        due = session.starts_at.date() + timedelta(days=21)
        if supervisee is not None and n % 3 == 0:
            services.action_add(
                actor=supervisor, record=record, owner=supervisee, due_date=due,
                description="Book a place on the speech and language course",
            )  # fmt: skip
        if session.id not in latest:
            _sign_for_demo(record, session.ends_at + timedelta(hours=3))
            continue
        email = supervisee.user.email if supervisee else ""
        if email == "staff@riverside.example":
            # Waiting for Tom to agree and sign.
            services.record_submit(actor=supervisor, record=record)
        elif email == "amy.hughes@riverside.example":
            # Tom's supervisor has a draft in progress for Amy.
            continue
        elif email == "chloe.evans@riverside.example":
            # A disagreement, kept with a rationale, then signed by both.
            services.record_submit(actor=supervisor, record=record)
            services.record_comment(
                actor=supervisee, record=record, disagree=True,
                text="I do not agree that my time-keeping was raised as a concern: it was one late morning.",
            )  # fmt: skip
            services.record_set_rationale(
                actor=supervisor, record=record,
                rationale="Recorded because punctuality affects ratios in Reception; it is noted as one occasion.",
            )  # fmt: skip
            record.refresh_from_db()
            _sign_for_demo(record, session.ends_at + timedelta(days=1))
        elif email == "fatima.khan@riverside.example":
            services.decision_add(
                actor=supervisor, record=record, key_person=supervisee, child_reference="CP-2026-0147",
                decision="Refer the attendance pattern to the local authority's early help team; key person to "
                "log today's discussion and the referral on the child's file.",
            )  # fmt: skip
            record.refresh_from_db()
            _sign_for_demo(record, session.ends_at + timedelta(hours=4))
        elif n % 4 == 1 and supervisee is not None:
            # Signed by the supervisee, waiting for the supervisor.
            services.record_submit(actor=supervisor, record=record)
            record.refresh_from_db()
            services.freeze_names(record)
            digest = services.content_hash(record)
            Signature.objects.create(
                record=record, signer=supervisee, signer_name=supervisee.full_name,
                capacity=SignatureCapacity.SUPERVISEE,
                signed_at=timezone.now() - timedelta(days=1), content_hash=digest, revision=record.revision,
            )  # fmt: skip
            Record.objects.filter(pk=record.pk).update(status=RecordStatus.AWAITING_SUPERVISOR)
        else:
            if supervisee is not None:
                services.action_add(
                    actor=supervisor, record=record, owner=supervisee, due_date=today + timedelta(days=14),
                    description="Share the new reading plan with the phase team",
                )  # fmt: skip
            record.refresh_from_db()
            _sign_for_demo(record, session.ends_at + timedelta(hours=3))
    _demo_auditor_grant(organisation, today)
    _point_demo_reminders(organisation)


def _demo_auditor_grant(organisation: Organisation, today) -> None:
    """The demo auditor's access: asked for by the organisation admin, approved by the primary school's
    head (the second person), over the primary school's last year of records."""
    people = {s.user.email: s for s in StaffMember.objects.filter(organisation=organisation).select_related("user")}
    admin, auditor, head = (people.get(f"{who}@riverside.example") for who in ("admin", "auditor", "head"))
    primary = organisation.settings.filter(kind="primary").first()
    if not (admin and auditor and head and primary):
        return
    grant = auditor_grant_create(
        actor=admin, auditor=auditor, settings=[primary], covers_from=today - timedelta(days=365), covers_until=today,
        expires_at=timezone.now() + timedelta(days=90), purpose="Annual safeguarding audit of the primary school",
    )  # fmt: skip
    auditor_grant_approve(actor=head, grant=grant)


def _point_demo_reminders(organisation: Organisation) -> None:
    """The demo's reminders (supervision/demo.py, seeded before these records) lead to the exact item, as
    the sweep's do (issue 16): the record Tom is to sign, his next session, Amy's agreement to book for, the
    decision on the DSL's safeguarding page, naming its child reference. Their emails are written after the
    demo's transaction commits, so they say the same."""
    demo = Notification.objects.filter(organisation=organisation, object_type="demo")
    tom = "staff@riverside.example"
    record = Record.objects.filter(
        organisation=organisation,
        status=RecordStatus.AWAITING_SUPERVISEE,
        session__contract__supervisee__user__email=tom,
    ).first()
    if record is not None:
        demo.filter(object_code="record").update(url=reverse("records:record-detail", kwargs={"code": record.code}))
    session = (
        Session.objects.filter(
            organisation=organisation, status=SessionStatus.SCHEDULED, starts_at__gte=timezone.now(),
            attendees__user__email=tom,
        ).order_by("starts_at").first()
    )  # fmt: skip
    if session is not None:
        demo.filter(object_code="agenda").update(
            url=reverse("supervision:session-detail", kwargs={"code": session.code})
        )
    amy = Contract.objects.filter(
        organisation=organisation, supervisee__user__email="amy.hughes@riverside.example", end_date__isnull=True
    ).first()
    if amy is not None:
        demo.filter(object_code="overdue").update(url=reverse("supervision:session-book") + f"?contract={amy.code}")
    decision = (
        SafeguardingDecision.objects.awaiting_confirmation()
        .filter(organisation=organisation)
        .select_related("key_person__user", "record__session__setting")
        .first()
    )
    if decision is not None:
        signed = timezone.localtime(decision.record.locked_at).date()
        key_person, setting = decision.key_person.full_name, decision.record.session.setting.name
        demo.filter(object_code="decision").update(
            url=follow_up.safeguarding_url(decision=decision),
            body=(
                f"{key_person} is the key person for a safeguarding decision about {decision.child_reference} in a "
                f"supervision record at {setting}, signed on {signed:%a} {signed.day} {signed:%b %Y}. It is not "
                f"yet confirmed as recorded on the child's file. Please follow it up with {key_person}."
            ),
        )
