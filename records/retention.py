"""Retention: a leaver's supervision records go once the organisation's retention period has passed.

Seed 000: records are "kept for one year after a member of staff leaves"; the organisation sets the
period (`Organisation.retention_months`, 12 by default). The day after the leaving date plus that
many calendar months, the daily sweep lists what it will delete (an audit event, and the admins'
report: "will be deleted on <date> unless stopped") and sets `StaffMember.retention_deletes_on` to
GRACE_DAYS (30) later. In that grace period an admin stops it with a legal hold on the person (audited,
with a reason; releasing the hold lists them again with a new grace period) or by correcting the
leaving date. On that date, if nothing stopped it, the sweep deletes what is about the leaver:

- the records of the sessions they were supervised in, with everything that hangs off a record
  (sections, actions, safeguarding decisions, flags, comments, addenda, signatures) and the signed PDF;
- the agendas of those sessions;
- the informal notes about them.

It keeps what is someone else's too, or must not go yet:

- a group record while any other participant's retention has not passed (it is their record too),
  and a record any participant is under a legal hold for;
- a record under its own legal hold (`Record.legal_hold`);
- a record with a safeguarding decision not yet confirmed on the child's file: the record is then the
  only copy of a decision about a child;
- records the leaver wrote as a supervisor, and actions they own in records that stay: those are
  other people's records;
- sessions and agreements: their dates and status are the compliance history.

Nobody is purged while `StaffMember.legal_hold` is set. Each person is purged in a transaction of
their own, holding their row locked, so a failure leaves the others done and two sweeps running at
once delete (and audit) everything exactly once. Every deletion writes an audit event with the
SHA-256 of what went; the audit trail itself is never deleted. Each organisation admin gets a report
of the people of their settings from each run that listed or deleted anyone (a second run the same day
sends its own), and none when nothing was listed or deleted.
"""

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from accounts.audit import audit_event
from accounts.models import Organisation, Role, StaffMember
from supervision.models import AgendaItem, InformalNote, NotificationKind, Session
from supervision.notify import notify

from .models import Action, Addendum, ConfidentialityFlag, Record, RecordComment, SafeguardingDecision, Signature
from .services import content_hash

logger = logging.getLogger(__name__)

# The report lists at most this many people of each kind; the audit trail has them all.
REPORT_LINES = 100
# Days between listing a leaver's records for deletion (and telling the admins) and deleting them.
GRACE_DAYS = 30


def retention_ends(staff: StaffMember, months: int) -> date | None:
    """The last day the person's records are kept, or None while they have no leaving date."""
    if staff.leaving_date is None:
        return None
    return staff.leaving_date + relativedelta(months=months)


def is_past_retention(staff: StaffMember, months: int, today: date) -> bool:
    ends = retention_ends(staff, months)
    return ends is not None and ends < today


def _setting_ids(staff: StaffMember) -> set[int]:
    return {s.pk for s in staff.settings.all()}


def _listable(staff: StaffMember, months: int, today: date) -> bool:
    """Past the retention period and not under a legal hold: what goes can be listed for deletion."""
    return not staff.legal_hold and is_past_retention(staff, months, today)


def _listing_stands(staff: StaffMember, months: int) -> bool:
    """The person was listed for deletion after their retention period ended (a listing made before a
    leaving date or the organisation's period changed does not count: they are listed again)."""
    deletes_on = staff.retention_deletes_on
    ends = retention_ends(staff, months)
    return deletes_on is not None and ends is not None and deletes_on - timedelta(days=GRACE_DAYS) > ends


def is_due(staff: StaffMember, months: int, today: date) -> bool:
    """Listed for deletion, and the grace period has passed."""
    return _listing_stands(staff, months) and staff.retention_deletes_on <= today


def _purgeable(staff: StaffMember, months: int, today: date) -> bool:
    return _listable(staff, months, today) and is_due(staff, months, today)


def _sha256(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- Files -----------------------------------------------------------------------------------------


def _pdf_files(record: Record) -> list[Path]:
    """The record's stored PDFs: where `pdf_path` says, and where `store_record_pdf` writes them (the
    first document and one beside it per addendum; a file written by a run whose transaction then failed
    has no `pdf_path`). Only files inside PRIVATE_ROOT."""
    root = Path(settings.PRIVATE_ROOT).resolve()
    folder = Path("records") / str(record.organisation.code)
    names = {folder / f"{record.code}.pdf"}
    names.update(folder / p.name for p in (root / folder).glob(f"{record.code}-addendum-*.pdf"))
    if record.pdf_path:
        names.add(Path(record.pdf_path))
    paths = [(root / name).resolve() for name in sorted(names)]
    return [p for p in paths if p.is_relative_to(root) and p.is_file()]


def _delete_file(path: Path) -> None:
    path.unlink(missing_ok=True)


# --- One person ------------------------------------------------------------------------------------


def _counts_by_record(model, record_ids: list[int]) -> Counter:
    rows = model.objects.filter(record_id__in=record_ids).values("record_id").annotate(n=Count("id"))
    return Counter({row["record_id"]: row["n"] for row in rows})


def _record_event(record: Record, *, staff: StaffMember, common: dict, counts: dict, addenda: list, pdf: bool):
    audit_event(
        action="retention.record_deleted",
        obj=record,
        organisation=record.organisation,
        details={
            **common,
            "person": str(staff.code),
            "session_date": timezone.localtime(record.session.starts_at).date().isoformat(),
            "kind": record.session.kind,
            "status": record.status,
            "participants": sorted(str(a.code) for a in record.session.attendees.all()),
            "counts": counts,
            "pdf_file_deleted": pdf,
            "sha256": {
                # A signed record's hash is the one everyone signed; a draft's is of its content now.
                "content": record.content_hash or content_hash(record),
                "pdf": record.pdf_sha256 or None,
                "addenda": addenda,
            },
        },
    )


def _notes_event(staff: StaffMember, *, organisation, common: dict, notes: list, agenda: list) -> None:
    audit_event(
        action="retention.notes_deleted",
        obj=staff,
        organisation=organisation,
        details={
            **common,
            "counts": {"informal_notes": len(notes), "agenda_items": len(agenda)},
            "sha256": {
                "informal_notes": [
                    _sha256(
                        {
                            "code": n.code,
                            "occurred_on": n.occurred_on,
                            "recorded_by": n.recorded_by.code,
                            "summary": n.summary,
                            "significant": n.significant,
                        }
                    )
                    for n in notes
                ],
                "agenda_items": [
                    _sha256({"session": a.session.code, "text": a.text, "created_at": a.created_at}) for a in agenda
                ],
            },
        },
    )


def _what_goes(staff: StaffMember, sessions: list[Session], unconfirmed: set[int], months: int, today: date, ready):
    """(records to delete, sessions whose agenda goes, Counter of records kept by reason). `ready(other,
    months, today)` says whether another participant's part of a group record may go too."""
    kept = Counter()
    records: list[Record] = []
    cleared_sessions: list[int] = []
    for session in sessions:
        record = getattr(session, "record", None)
        others = [a for a in session.attendees.all() if a.pk != staff.pk]
        if any(not ready(other, months, today) for other in others):
            # Another participant's record too (or one under a hold): it stays, with its agenda.
            if record is not None:
                kept["shared"] += 1
            continue
        if record is not None:
            if record.legal_hold:
                kept["record_hold"] += 1
                continue
            if record.pk in unconfirmed:
                kept["safeguarding"] += 1
                continue
            records.append(record)
        cleared_sessions.append(session.pk)
    return records, cleared_sessions, kept


def _gather(staff: StaffMember, organisation: Organisation, today: date, ready):
    """What retention would delete about the person today: (records, agenda items, informal notes,
    Counter of records kept by reason)."""
    months = organisation.retention_months
    sessions = list(
        Session.objects.filter(attendees=staff)
        .select_related(
            "record__template_version__template",
            "record__supervisor__user",
            "contract__supervisee__user",
            "supervisor__user",
            "group",
            "setting",
        )
        .prefetch_related("attendees__user")
        .order_by("starts_at", "id")
    )
    unconfirmed = set(
        SafeguardingDecision.objects.filter(record__session__in=[s.pk for s in sessions], confirmed_at__isnull=True)
        .order_by()
        .values_list("record_id", flat=True)
        .distinct()
    )
    records, cleared_sessions, kept = _what_goes(staff, sessions, unconfirmed, months, today, ready)
    for record in records:
        record.organisation = organisation
    agenda = list(AgendaItem.objects.filter(session_id__in=cleared_sessions).select_related("session"))
    notes = list(InformalNote.objects.filter(supervisee=staff).select_related("recorded_by"))
    return records, agenda, notes, kept


def _summary(staff: StaffMember, organisation: Organisation, *, records, pdf_files, actions, notes, agenda, kept):
    return {
        "organisation": str(organisation.code),
        "staff": str(staff.code),
        "name": staff.full_name,
        "setting_ids": _setting_ids(staff),
        "leaving_date": staff.leaving_date,
        "deletes_on": staff.retention_deletes_on,
        "records": len(records),
        "pdf_files": pdf_files,
        "actions": actions,
        "informal_notes": len(notes),
        "agenda_items": len(agenda),
        "kept_shared": kept["shared"],
        "kept_record_hold": kept["record_hold"],
        "kept_safeguarding": kept["safeguarding"],
    }


def _list_person(staff_id: int, organisation: Organisation, today: date) -> dict | None:
    """List what will be deleted about one person, and when: today plus the grace period.

    Nothing is deleted. Returns what will go and what stays, or None when there is nothing to delete
    (or the person is on hold, or already listed). The audit event names every record that will go.
    """
    months = organisation.retention_months
    with transaction.atomic():
        staff = StaffMember.objects.select_for_update().filter(pk=staff_id).first()
        if staff is None or not _listable(staff, months, today) or _listing_stands(staff, months):
            return None
        # Another participant's part of a group record goes once they are past their period too: they
        # are listed (and warned about) in their own right.
        records, agenda, notes, kept = _gather(staff, organisation, today, _listable)
        if not (records or agenda or notes):
            return None
        staff.retention_deletes_on = today + timedelta(days=GRACE_DAYS)
        staff.save(update_fields=["retention_deletes_on", "updated_at"])
        pdf_files = sum(bool(_pdf_files(record)) for record in records)
        actions = Action.objects.filter(record__in=records).count() if records else 0
        audit_event(
            action="retention.listed",
            obj=staff,
            organisation=organisation,
            details={
                "leaving_date": staff.leaving_date.isoformat(),
                "retention_months": months,
                "retention_ended": retention_ends(staff, months).isoformat(),
                "deletes_on": staff.retention_deletes_on.isoformat(),
                "records": [str(r.code) for r in records],
                "counts": {
                    "records": len(records),
                    "pdf_files": pdf_files,
                    "actions": actions,
                    "informal_notes": len(notes),
                    "agenda_items": len(agenda),
                },
                "kept": dict(kept),
            },
        )
    return _summary(
        staff,
        organisation,
        records=records,
        pdf_files=pdf_files,
        actions=actions,
        notes=notes,
        agenda=agenda,
        kept=kept,
    )


def _purge_person(staff_id: int, organisation: Organisation, today: date) -> dict | None:
    """Delete what the retention period no longer allows us to keep about one person, once they have
    been listed for deletion and the grace period has passed.

    Returns what was deleted and kept, or None when nothing was deleted (already purged, or only
    records that stay). Everything happens in one transaction, with the person's row locked against
    a second sweep and against a legal hold being set meanwhile.
    """
    months = organisation.retention_months
    with transaction.atomic():
        staff = StaffMember.objects.select_for_update().filter(pk=staff_id).first()
        if staff is None or not _purgeable(staff, months, today):
            return None
        records, agenda, notes, kept = _gather(staff, organisation, today, _purgeable)
        if not (records or agenda or notes):
            return None

        common = {
            "leaving_date": staff.leaving_date.isoformat(),
            "retention_months": months,
            "retention_ended": retention_ends(staff, months).isoformat(),
            "listed_deletion_on": staff.retention_deletes_on.isoformat(),
        }
        record_ids = [r.pk for r in records]
        per_record = {
            name: _counts_by_record(model, record_ids)
            for name, model in (
                ("actions", Action),
                ("safeguarding_decisions", SafeguardingDecision),
                ("confidentiality_flags", ConfidentialityFlag),
                ("comments", RecordComment),
                ("addenda", Addendum),
                ("signatures", Signature),
            )
        }
        addenda_hashes: dict[int, list[str]] = {}
        addenda = Addendum.objects.filter(record_id__in=record_ids).values_list("record_id", "content_hash")
        for record_id, digest in addenda:
            addenda_hashes.setdefault(record_id, []).append(digest)
        files: list[Path] = []
        for record in records:
            pdfs = _pdf_files(record)
            files += pdfs
            _record_event(
                record,
                staff=staff,
                common=common,
                counts={name: counts[record.pk] for name, counts in per_record.items()},
                addenda=sorted(addenda_hashes.get(record.pk, [])),
                pdf=bool(pdfs),
            )
        if agenda or notes:
            _notes_event(staff, organisation=organisation, common=common, notes=notes, agenda=agenda)
        # Signed records never change, and this is the one deletion allowed: sections, actions,
        # decisions, flags, comments, addenda and signatures go with the record (CASCADE).
        Record.objects.filter(pk__in=record_ids).delete()
        AgendaItem.objects.filter(pk__in=[a.pk for a in agenda]).delete()
        InformalNote.objects.filter(pk__in=[n.pk for n in notes]).delete()
        # Last, so that a file that cannot be deleted rolls the rows back for the next run to retry.
        for path in files:
            _delete_file(path)

    return _summary(
        staff,
        organisation,
        records=records,
        pdf_files=len(files),
        actions=sum(per_record["actions"].values()),
        notes=notes,
        agenda=agenda,
        kept=kept,
    )


# --- The sweep -------------------------------------------------------------------------------------


def _candidates(organisation: Organisation, today: date) -> list[StaffMember]:
    """Leavers past the retention period who still have something that could be deleted."""
    months = organisation.retention_months
    # A superset in SQL (L + m < T implies L <= T - m); month ends are settled exactly in Python.
    latest = today - relativedelta(months=months)
    leftovers = Exists(
        Session.objects.filter(attendees=OuterRef("pk")).filter(Q(record__isnull=False) | Q(agenda_items__isnull=False))
    ) | Exists(InformalNote.objects.filter(supervisee=OuterRef("pk")))
    people = (
        StaffMember.objects.filter(organisation=organisation, leaving_date__lte=latest)
        .filter(leftovers)
        .select_related("user")
        .prefetch_related("settings")
        .order_by("leaving_date", "id")
    )
    return [p for p in people if is_past_retention(p, months, today)]


@dataclass
class SweepResult:
    listed: list[dict] = field(default_factory=list)  # listed for deletion today
    purged: list[dict] = field(default_factory=list)  # deleted today, their grace period over


def sweep(today: date | None = None) -> SweepResult:
    """The daily retention sweep over every organisation. A leaver past the retention period is first
    listed (what will go, and the date: today plus GRACE_DAYS); the organisation admins hear of it and
    can stop it with a legal hold. On that date, if nothing stopped it, their records are deleted.
    Safe to run again, and concurrently: a second run finds nothing to list or delete."""
    today = today or timezone.localdate()
    result = SweepResult()
    for organisation in Organisation.objects.order_by("id"):
        months = organisation.retention_months
        listed, purged, held = [], [], []
        for person in _candidates(organisation, today):
            if person.legal_hold:
                held.append(
                    {"name": person.full_name, "leaving_date": person.leaving_date, "setting_ids": _setting_ids(person)}
                )
                continue
            if _listing_stands(person, months) and not is_due(person, months, today):
                continue  # listed, in its grace period
            step = _purge_person if is_due(person, months, today) else _list_person
            try:
                outcome = step(person.pk, organisation, today)
            except Exception:
                # The person's transaction is rolled back; the others stand and tomorrow's run retries.
                logger.exception("Retention: could not process the records of staff member %s", person.code)
                continue
            if outcome is not None:
                (purged if step is _purge_person else listed).append(outcome)
        if purged or listed:
            _report(organisation, today, purged, held, listed)
        result.listed += listed
        result.purged += purged
    logger.info(
        "Retention: listed the records of %d people for deletion, purged those of %d.",
        len(result.listed),
        len(result.purged),
    )
    return result


def purge_expired(today: date | None = None) -> list[dict]:
    """Run the sweep; returns one dict per person something was deleted for today."""
    return sweep(today).purged


# --- The admin's report ----------------------------------------------------------------------------


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _day(value: date) -> str:
    return f"{value:%a} {value.day} {value:%b %Y}"


def _what(p: dict) -> str:
    return ", ".join(
        [
            _plural(p["records"], "record"),
            _plural(p["pdf_files"], "PDF file"),
            _plural(p["actions"], "action"),
            _plural(p["informal_notes"], "informal note"),
            _plural(p["agenda_items"], "agenda item"),
        ]
    )


def _kept(p: dict) -> str:
    kept = []
    if p["kept_shared"]:
        kept.append(f"{_plural(p['kept_shared'], 'group record')} shared with people whose records are kept")
    if p["kept_record_hold"]:
        kept.append(f"{_plural(p['kept_record_hold'], 'record')} under a legal hold")
    if p["kept_safeguarding"]:
        kept.append(
            f"{_plural(p['kept_safeguarding'], 'record')} with a safeguarding decision not yet confirmed "
            "on the child's file"
        )
    return f" Kept: {'; '.join(kept)}." if kept else ""


def _person_line(p: dict) -> str:
    return f"- {p['name']}, left {_day(p['leaving_date'])}: deleted {_what(p)}.{_kept(p)}"


def _listed_line(p: dict) -> str:
    return f"- {p['name']}, left {_day(p['leaving_date'])}: {_what(p)} to delete on {_day(p['deletes_on'])}.{_kept(p)}"


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= REPORT_LINES:
        return lines
    return lines[:REPORT_LINES] + [f"- and {len(lines) - REPORT_LINES} more (see the audit trail)."]


def report_body(
    organisation: Organisation, today: date, purged: list[dict], held: list[dict], listed: list[dict] = ()
) -> str:
    lines = [
        f"{organisation.name} keeps supervision records for {_plural(organisation.retention_months, 'month')} "
        "after a member of staff leaves.",
    ]
    if listed:
        deletes_on = _day(listed[0]["deletes_on"])
        lines += [
            "",
            f"That period has now passed for {_plural(len(listed), 'person', 'people')}. Their records will be "
            f"deleted on {deletes_on} unless stopped:",
            "",
            *_capped([_listed_line(p) for p in listed]),
            "",
            f"To stop a deletion, set a legal hold on the person's staff page before {deletes_on}: for a claim, a "
            "complaint or an investigation, or while a wrong leaving date is put right. Correcting the leaving "
            'date also takes them off the list. The staff list\'s "Listed for deletion" view shows everyone '
            "waiting.",
        ]
    if purged:
        lines += [
            "",
            f"On {_day(today)} the records of {_plural(len(purged), 'person', 'people')} were deleted, "
            f"{GRACE_DAYS} days after they were listed:",
            "",
            *_capped([_person_line(p) for p in purged]),
        ]
    if held:
        lines += [
            "",
            "Kept because of a legal hold on the person (release it on their staff page when it is no longer needed):",
            *_capped([f"- {h['name']}, left {_day(h['leaving_date'])}." for h in held]),
        ]
    lines += [
        "",
        "Sessions and agreements stay, with their dates and status, as the compliance history. "
        "Each listing and each deletion is recorded in the audit trail.",
    ]
    return "\n".join(lines)


def _report_url(listed: bool) -> str:
    if listed:
        return reverse("accounts:staff-list") + "?status=listed"
    try:
        resolve("/audit/")
    except Resolver404:
        return reverse("accounts:staff-list") + "?status=leavers"
    return "/audit/"


def report_period(today: date, purged: list[dict], listed: list[dict]) -> str:
    """The report's place in the ledger: the day and the people this run listed or deleted. A second run
    the same day that lists or deletes others (a hold released, a leaving date corrected, the sweep run
    again by hand) sends a report of its own; the same run delivered twice sends one. 2026-04-30/1a2b..."""
    people = sorted(f"{kind}:{p['staff']}" for kind, ps in (("purged", purged), ("listed", listed)) for p in ps)
    return f"{today.isoformat()}/{hashlib.sha256(' '.join(people).encode()).hexdigest()[:16]}"


def _report(organisation: Organisation, today: date, purged: list[dict], held: list[dict], listed: list[dict]) -> None:
    """A report of each run that listed or deleted anyone, to each organisation admin: the whole
    organisation's people, or their settings'."""
    period = report_period(today, purged, listed)
    admins = (
        StaffMember.objects.filter(organisation=organisation, role_assignments__role=Role.ORG_ADMIN)
        .current(today)
        .distinct()
        .select_related("user")
        .prefetch_related("role_assignments")
    )
    for admin in admins:
        scope = admin.role_scope(Role.ORG_ADMIN)
        if scope == "organisation":
            theirs, their_held, their_listed = purged, held, listed
        else:
            reach = set(scope or ())
            theirs = [p for p in purged if p["setting_ids"] & reach]
            their_held = [h for h in held if h["setting_ids"] & reach]
            their_listed = [p for p in listed if p["setting_ids"] & reach]
        if not (theirs or their_listed):
            continue
        titles = []
        if their_listed:
            titles.append(
                f"the records of {_plural(len(their_listed), 'leaver')} will be deleted on "
                f"{_day(their_listed[0]['deletes_on'])} unless stopped"
            )
        if theirs:
            titles.append(f"the records of {_plural(len(theirs), 'leaver')} were deleted")
        notify(
            recipient=admin,
            kind=NotificationKind.RETENTION_REPORT,
            object_type="organisation",
            object_code=organisation.code,
            period=period,
            title="Retention: " + "; ".join(titles),
            body=report_body(organisation, today, theirs, their_held, their_listed),
            url=_report_url(bool(their_listed)),
        )
