"""Agreements for everyone (issue 15): one action makes the agreement of every person who has a
supervisor and no current agreement, from the organisation's wording, and asks each pair to sign.

Each agreement is made by `services.contract_create` (its own `contract.created` event) and the pair
asked by `services.contract_request_signatures` (a notification each, once); the run as a whole writes
one `contract.bulk_run` event with its counts when it ends. Up to `AGREEMENTS_IN_BACKGROUND_OVER`
people it runs in the request; above that as a Celery job whose progress the status page polls.

Running it again is safe, and so are two runs at once. A run takes people in batches; each batch locks
its people's rows (`SELECT ... FOR UPDATE`, in id order) and looks again at who still has no agreement
before making any, so a second run waits for the first and then finds nothing left to do for them. The
database's `contract_one_current_per_supervisee` constraint stands behind the lock: a duplicate that
got past it (an agreement made by hand at that moment) fails on its own and is counted as skipped.
Only one run is queued or running per organisation: asking again while one is returns that one.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.audit import audit_event
from accounts.models import Organisation, StaffMember

from .models import AgreementRun, Contract, SessionKind
from .services import contract_create, contract_request_signatures

logger = logging.getLogger(__name__)

BATCH = 50
# A run queued or running for longer than this is taken to be lost (its worker died): another may start.
RESTART_AFTER = timedelta(hours=1)


def with_agreement_flag(people):
    """`people` annotated with `has_agreement`: a current 1:1 agreement as supervisee."""
    current = Contract.objects.filter(supervisee=OuterRef("pk"), kind=SessionKind.ONE_TO_ONE, end_date__isnull=True)
    return people.annotate(has_agreement=Exists(current))


def needs_agreement(today) -> Q:
    """On a `with_agreement_flag` queryset: a supervisor who has not left, and no current agreement."""
    supervisor_current = Q(supervisor__leaving_date__isnull=True) | Q(supervisor__leaving_date__gte=today)
    return Q(supervisor__isnull=False, has_agreement=False) & supervisor_current


def people_needing_agreements(admin: StaffMember, today=None):
    """Current people the admin manages who have a current supervisor and no current agreement."""
    today = today or timezone.localdate()
    people = StaffMember.objects.manageable_by(admin).current(today)
    return with_agreement_flag(people).filter(needs_agreement(today))


def plan(admin: StaffMember) -> dict:
    """What a run would do now: how many agreements, and how many different people asked to sign (the
    supervisees and their supervisors). Two queries."""
    people = people_needing_agreements(admin)
    agreements = people.count()
    supervisors_only = (
        StaffMember.objects.filter(pk__in=people.values("supervisor_id")).exclude(pk__in=people.values("pk")).count()
    )
    return {"agreements": agreements, "people": agreements + supervisors_only}


def get_run_for_admin(admin: StaffMember, code) -> AgreementRun:
    return get_object_or_404(
        AgreementRun.objects.filter(organisation_id=admin.organisation_id).select_related("requested_by__user"),
        code=code,
    )


@transaction.atomic
def agreements_start(*, actor: StaffMember) -> AgreementRun | None:
    """Record a run (None when nobody needs an agreement). A run of more people than the threshold is
    queued for a worker when the transaction commits; the caller runs a smaller one at once."""
    # One start at a time per organisation: the second waits here and then finds the first's run.
    Organisation.objects.select_for_update().filter(pk=actor.organisation_id).first()
    now = timezone.now()
    under_way = (
        AgreementRun.objects.filter(
            organisation_id=actor.organisation_id,
            status__in=AgreementRun.UNDER_WAY,
            created_at__gt=now - RESTART_AFTER,
        )
        .order_by("-created_at")
        .first()
    )
    if under_way is not None:
        return under_way
    total = people_needing_agreements(actor).count()
    if total == 0:
        return None
    run = AgreementRun.objects.create(
        organisation_id=actor.organisation_id,
        requested_by=actor,
        total=total,
        in_background=total > settings.AGREEMENTS_IN_BACKGROUND_OVER,
        created_at=now,
    )
    if run.in_background:
        from .tasks import run_agreements

        run_id = run.id
        transaction.on_commit(lambda: run_agreements.delay(run_id))
    return run


def agreements_run(run_id: int) -> None:
    """Make the agreements of a run. Safe to deliver twice: a finished run returns at once, and a
    rerun of an unfinished one makes only those still missing."""
    run = _claim(run_id)
    if run is None:
        return
    try:
        _make_all(run)
    except Exception:
        logger.exception("Agreement run %s failed", run.code)
        _finish(run, AgreementRun.Status.FAILED, "Something went wrong; it has been logged. Run it again.")
    else:
        _finish(run, AgreementRun.Status.DONE)


def _claim(run_id: int) -> AgreementRun | None:
    with transaction.atomic():
        run = (
            AgreementRun.objects.select_for_update(of=("self",))
            .select_related("requested_by__user", "requested_by__organisation")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status in (AgreementRun.Status.DONE, AgreementRun.Status.FAILED):
            return None
        AgreementRun.objects.filter(pk=run.pk).update(status=AgreementRun.Status.RUNNING)
    return run


def _make_all(run: AgreementRun) -> None:
    actor = run.requested_by
    organisation = actor.organisation
    today = timezone.localdate()
    last = 0
    while True:
        ids = list(
            people_needing_agreements(actor, today)
            .filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        if not ids:
            return
        last = ids[-1]
        created = asked = 0
        with transaction.atomic():
            list(StaffMember.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
            # Looked at again under the lock: a run that held it before us has made some of these.
            still = (
                people_needing_agreements(actor, today)
                .filter(pk__in=ids)
                .select_related("user", "organisation", "supervisor__user")
                .order_by("pk")
            )
            for person in still:
                try:
                    contract = contract_create(
                        actor=actor,
                        supervisee=person,
                        supervisor=person.supervisor,
                        start_date=today,
                        frequency=organisation.default_frequency,
                        session_minutes=organisation.default_session_minutes,
                    )
                except (ValidationError, IntegrityError):
                    continue  # made by hand at this very moment: the constraint refused a second
                created += 1
                asked += contract_request_signatures(contract=contract)
            skipped = len(ids) - created  # found with an agreement under the lock, or refused
            AgreementRun.objects.filter(pk=run.pk).update(
                done=F("done") + len(ids),
                created=F("created") + created,
                skipped=F("skipped") + skipped,
                asked=F("asked") + asked,
            )


def _finish(run: AgreementRun, status: str, error: str = "") -> None:
    with transaction.atomic():
        current = AgreementRun.objects.select_for_update().get(pk=run.pk)
        if current.status in (AgreementRun.Status.DONE, AgreementRun.Status.FAILED):
            return  # another delivery of the same task finished it
        current.status, current.error, current.finished_at = status, error, timezone.now()
        current.save(update_fields=["status", "error", "finished_at"])
        audit_event(
            action="contract.bulk_run",
            actor=run.requested_by.user,
            obj=current,
            organisation=current.organisation,
            details={
                "status": status,
                "people": current.total,
                "created": current.created,
                "skipped": current.skipped,
                "asked_to_sign": current.asked,
                "in_background": current.in_background,
                **({"error": error} if error else {}),
            },
        )
