"""The signed PDF of a record for the secure staff file (DESIGN section 4).

On lock (and again when an addendum locks) a Celery task calls `store_record_pdf`: the record is
rendered with WeasyPrint from templates/records/pdf/record.html, signed with the organisation's
certificate (records/signing.py) and written privately under PRIVATE_ROOT. The record code and its
content hash go into the PDF's document information, so `/records/verify/` can say which record an
uploaded file claims to be.

WeasyPrint fetches only the product's own bundled files (fonts, `bundle:` URLs) and the in-memory images
the caller hands the fetcher (`memory:` URLs: the organisation's logo, checked and re-encoded on upload):
every other URL is refused, so nothing a record contains can make the renderer read a local file or reach
the network.
"""

import gc
import hashlib
import logging
import mimetypes
import os
import re
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from accounts.audit import audit_event
from accounts.models import AuditEvent, OrganisationLogo, StaffMember
from config.prepared import prepared_plans
from supervision.models import Session

from . import pdfcheck
from .access import record_in_reach
from .certificates import current_certificate, organisation_signer, trusted_pems
from .models import Addendum, FlagKind, FunctionTag, Record, RecordStatus, SignatureCapacity
from .services import content_digest, mark_name_as_signed, name_as_signed, record_content
from .signing import SignatureCheck, installation_certificate_self_signed, sign_pdf, signing_material

logger = logging.getLogger(__name__)

BUNDLE_SCHEME = "bundle:"
# bundle:fonts/DejaVuSans.ttf -> static/fonts/DejaVuSans.ttf; plain names only, no "..", no escapes.
BUNDLE_URL = re.compile(r"^bundle:(?P<path>(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*)$")
LOGO_URL = "memory:organisation-logo"


class RefusedURL(ValueError):
    """The renderer asked for something that is not one of the product's bundled files."""


def bundle_root() -> Path:
    return (Path(settings.BASE_DIR) / "static").resolve()


def bundled_file(url: str) -> Path:
    """The file a `bundle:` URL names, inside the project's static folder; RefusedURL for anything else."""
    match = BUNDLE_URL.match(url)
    if not match:
        raise RefusedURL(f"Refused to fetch {url[:200]!r}: the PDF uses only the product's bundled files.")
    root = bundle_root()
    path = (root / match["path"]).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise RefusedURL(f"Refused to fetch {url[:200]!r}: no such bundled file.")
    return path


class BundledFilesOnly(URLFetcher):
    """A WeasyPrint URL fetcher that reads bundled files from disk, and the in-memory files it was given
    by exact `memory:` URL, and refuses every other URL (http, https, ftp, file, data...). It never opens
    a connection: `fetch` is the only way in."""

    def __init__(self, memory: dict[str, tuple[bytes, str]] | None = None):
        super().__init__(allowed_protocols=())
        self.memory = dict(memory or {})
        self.fetched: list[str] = []
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        if url in self.memory:
            body, content_type = self.memory[url]
            self.fetched.append(url)
            return URLFetcherResponse(url, body=body, headers={"Content-Type": content_type})
        try:
            path = bundled_file(url)
        except RefusedURL:
            self.refused.append(url)
            raise
        self.fetched.append(url)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": content_type})


# Given both to the layout and to the writer, as `HTML.write_pdf` does: the document's own metadata (the
# record's code and content hash, read back by /records/verify/) and tags for assistive technology.
PDF_OPTIONS = {"custom_metadata": True, "pdf_tags": True}


def html_to_pdf(html: str, fetcher: BundledFilesOnly | None = None, *, stylesheet: "Stylesheet | None" = None) -> bytes:
    """Render HTML to PDF bytes through the bundled-files-only fetcher, with a stylesheet parsed beforehand
    when one is given.

    WeasyPrint only logs a resource it could not fetch; a refused URL here means the template asked
    for something it must not, so the PDF is not produced.
    """
    fetcher = fetcher or BundledFilesOnly()
    pdf = laid_out(html, fetcher, stylesheet=stylesheet).write_pdf(**PDF_OPTIONS)
    if fetcher.refused:
        raise RefusedURL(f"The PDF asked for URLs outside the bundle: {', '.join(fetcher.refused)[:500]}")
    return pdf


def laid_out(html: str, fetcher: BundledFilesOnly, *, stylesheet: "Stylesheet | None" = None):
    """The HTML laid out in pages (a WeasyPrint `Document`), as `html_to_pdf` writes it: tagged for
    assistive technology, with the stylesheet parsed beforehand when one is given."""
    styles = {"stylesheets": [stylesheet.css], "font_config": stylesheet.fonts} if stylesheet else {}
    # No base URL: a relative reference has nothing to resolve against and is never fetched.
    return HTML(string=html, base_url=None, url_fetcher=fetcher).render(**PDF_OPTIONS, **styles)


@dataclass(frozen=True)
class Stylesheet:
    text: str
    css: CSS
    fonts: FontConfiguration


_parsed = threading.local()


def record_stylesheet() -> Stylesheet:
    """The record's stylesheet with its fonts loaded, parsed once per thread and reused for every PDF it
    renders (parsing it and loading its three fonts was about a third of a render). Parsed again if the
    file changes. Per thread, because WeasyPrint's objects are not made to be shared between threads."""
    text = render_to_string("records/pdf/record.css")
    parsed = getattr(_parsed, "record", None)
    if parsed is None or parsed.text != text:
        fetcher = BundledFilesOnly()
        fonts = FontConfiguration()
        css = CSS(string=text, base_url=None, url_fetcher=fetcher, font_config=fonts)
        if fetcher.refused:
            raise RefusedURL(f"The stylesheet asked for URLs outside the bundle: {', '.join(fetcher.refused)[:500]}")
        parsed = _parsed.record = Stylesheet(text=text, css=css, fonts=fonts)
    return parsed


# --- The record's PDF ----------------------------------------------------------------------------


def _people(record: Record) -> list[dict]:
    """Everyone in the session by the name the record was signed with; `now` is their name today when it
    has changed since (shown beside it, outside the signed content)."""
    group = record.session.kind == "group"

    def person(staff, role):
        name = name_as_signed(record, staff)
        now = staff.full_name if staff.full_name != name else ""
        return {"name": name, "now": now, "role": role, "job_title": staff.job_title}

    attendees = sorted(record.session.attendees.all(), key=lambda s: name_as_signed(record, s))
    return [person(record.supervisor, "Supervisor")] + [
        person(s, "Group participant" if group else "Supervisee") for s in attendees
    ]


@dataclass(frozen=True)
class Signing:
    """What signs an organisation's PDFs now: its own certificate, or the installation's."""

    signer: object | None  # None: the installation's certificate
    self_signed: bool


def organisation_signing(organisation_id: int) -> Signing:
    certificate = current_certificate(organisation_id)
    if certificate is not None:
        return Signing(signer=organisation_signer(certificate), self_signed=False)
    return Signing(signer=None, self_signed=installation_certificate_self_signed())


def signing_self_signed(organisation_id: int) -> bool:
    """Whether the organisation's PDFs are signed now with a self-signed certificate (no query of the key)."""
    return current_certificate(organisation_id) is None and installation_certificate_self_signed()


def record_pdf_context(record: Record, *, self_signed: bool = False, logo: OrganisationLogo | None = None) -> dict:
    """The record as the PDF shows it: the signed content from `record_content`, and what followed it
    (the signatures, locked addenda, confirmations that decisions are on the child's file)."""
    # The attendees and their names, loaded once for the content and the people (one query, not one a person).
    prefetch_related_objects(
        [record], Prefetch("session__attendees", queryset=StaffMember.objects.select_related("user"))
    )
    content = record_content(record)
    session = record.session
    signatures = list(
        record.signatures.filter(addendum__isnull=True, voided_at__isnull=True)
        .select_related("signer__user")
        .order_by("signed_at", "id")
    )
    addenda = list(
        record.addenda.filter(locked_at__isnull=False)
        .select_related("author__user")
        .prefetch_related("signatures__signer__user")
        .order_by("locked_at", "id")
    )
    for addendum in addenda:
        addendum.standing_signatures = [s for s in addendum.signatures.all() if s.voided_at is None]
        mark_name_as_signed(addendum.author, addendum.author_name)
        for signature in addendum.standing_signatures:
            mark_name_as_signed(signature.signer, signature.signer_name)
    for signature in signatures:
        mark_name_as_signed(signature.signer, signature.signer_name)
    decisions = list(record.decisions.select_related("key_person__user").order_by("id"))
    for decision in decisions:
        mark_name_as_signed(decision.key_person, name_as_signed(record, decision.key_person))
    return {
        "record": record,
        "content": content,
        "organisation": content["organisation"],
        "setting": content["setting"],
        "session": session,
        "is_group": session.kind == "group",
        "group_name": content["session"]["group"],
        "boundaries": content["session"]["boundaries"],
        "people": _people(record),
        "template": content["template"],
        "sections": [{**s, "function_label": FunctionTag(s["function"]).label} for s in content["sections"]],
        "actions": [{**a, "due": date.fromisoformat(a["due"])} for a in content["actions"]],
        "decisions": decisions,
        "flags": [FlagKind(kind).label for kind in content["flags"]],
        "comments": [
            {**c, "at": datetime.fromisoformat(c["at"]), "disagreement": c["kind"] == "disagreement"}
            for c in content["comments"]
        ],
        "signatures": signatures,
        "capacity_labels": dict(SignatureCapacity.choices),
        "addenda": addenda,
        # Names are kept as signed (`names_as_signed`), so a rename leaves the content as it was; only a
        # record signed before names were kept, and renamed since, can differ from what was signed.
        "content_matches": content_digest(content) == record.content_hash,
        "generated_at": timezone.now(),
        "verify_url": settings.SITE_URL + reverse("records:record-verify"),
        "address": record.organisation.address,
        "logo_url": LOGO_URL if logo is not None else "",
        "self_signed": self_signed,
    }


def render_record_pdf_bytes(record: Record, *, self_signed: bool = False) -> bytes:
    """The record as an unsigned PDF, with the organisation's logo when it has one."""
    logo = OrganisationLogo.objects.filter(organisation_id=record.organisation_id).first()
    fetcher = BundledFilesOnly(memory={LOGO_URL: (bytes(logo.image), logo.content_type)} if logo else None)
    context = record_pdf_context(record, self_signed=self_signed, logo=logo)
    return html_to_pdf(render_to_string("records/pdf/record.html", context), fetcher, stylesheet=record_stylesheet())


def pdf_filename(record: Record) -> str:
    """supervision-record-2025-11-03-tom-baker.pdf (the supervisee, or the group, and the session's day)."""
    session = record.session
    day = timezone.localtime(session.starts_at).date().isoformat()
    if session.kind == "group" and session.group_id:
        who = session.group.name
    else:
        who = " ".join(s.full_name for s in sorted(session.attendees.all(), key=lambda s: s.full_name))
    return f"supervision-record-{day}-{slugify(who)[:80] or 'record'}.pdf"


def stored_pdf_path(record: Record) -> Path | None:
    """The stored file, or None when there is none yet (or it went missing)."""
    if not record.pdf_path:
        return None
    root = Path(settings.PRIVATE_ROOT).resolve()
    path = (root / record.pdf_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        logger.error("The stored PDF of record %s is missing: %s", record.code, record.pdf_path)
        return None
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".part")  # mode 0600
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _locked_addenda(record_id: int) -> list[int]:
    return list(
        Addendum.objects.filter(record_id=record_id, locked_at__isnull=False)
        .order_by("id")
        .values_list("id", flat=True)
    )


def pdf_relative_path(record: Record, addenda: int) -> Path:
    """Where the PDF showing the first `addenda` locked addenda is kept, under PRIVATE_ROOT: the record's
    first document is <code>.pdf; each addendum makes <code>-addendum-<n>.pdf beside it."""
    name = f"{record.code}.pdf" if addenda == 0 else f"{record.code}-addendum-{addenda}.pdf"
    return Path("records") / str(record.organisation.code) / name


def _intact_copy(record: Record) -> Path | None:
    """The stored file when it is there and still hashes to what was stored (one read of the file)."""
    path = stored_pdf_path(record)
    if path is None or not record.pdf_sha256:
        return None
    if hashlib.sha256(path.read_bytes()).hexdigest() != record.pdf_sha256:
        logger.error("The stored PDF of record %s does not match its hash: %s", record.code, record.pdf_path)
        return None
    return path


@contextmanager
def cycle_collection_paused():
    """Python's cyclic garbage collector held off while one PDF is rendered and signed, and left to run
    once it is done. A render allocates about a hundred thousand objects, which set off some thirty
    collections of the young objects and, every few PDFs, one of the whole heap (Django's, WeasyPrint's
    and pyHanko's modules): a sixth of a PDF's CPU. What the render leaves in reference cycles (about
    17,000 objects, a few MB) is freed by the next collection, the first allocation after it.

    The switch is the process's: another thread rendering a page meanwhile also runs without it, for
    well under a second, and collection is on again when the first of two overlapping renders ends."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _name_the_session(record: Record) -> None:
    """The names the audit event's wording of the session needs (`Session.title`: the supervisee's and
    the supervisor's), in one query, asked only when a PDF is stored. Joined into the record's own query,
    they made it a join of eleven tables that PostgreSQL took 8 ms to plan, for every PDF."""
    session = record.session
    if session.contract_id:
        named = Session.objects.select_related("contract__supervisee__user", "supervisor__user").get(pk=session.pk)
        session.contract, session.supervisor = named.contract, named.supervisor


def store_record_pdf(record_id: int) -> Path | None:
    """Render, sign and store the PDF of a signed record; returns the stored file.

    A stored PDF is never replaced. A run that finds the document already stored renders nothing (the
    sweep's run, a download's, a message redelivered an hour later); one that finds it stored only once it
    has rendered (two runs at once) discards its copy under the record's row lock, so the first file and
    its hash stand. A locked addendum makes a new document, kept beside the first (`pdf_relative_path`).
    Only a file gone missing or damaged is made again, and the audit event says which copy it follows.
    Records that are not signed have no PDF."""
    # Its statements find rows by the record's id (and its organisation's): the same SQL for every PDF,
    # whose best plan does not depend on which record it is. Prepared once a connection and planned no
    # more (`config.prepared`), PostgreSQL's planning of them was 5-6 ms of a PDF's 91 in one process
    # (issue 14: an export of 1,000 missing PDFs is bound by the CPU both its workers and PostgreSQL use).
    with prepared_plans():
        return _store_record_pdf(record_id)


def _store_record_pdf(record_id: int) -> Path | None:
    record = (
        Record.objects.filter(pk=record_id)
        .select_related(
            "organisation",
            "session__setting",
            "session__group",
            "supervisor__user",
            "template_version__template",
        )
        .first()
    )
    if record is None or record.status != RecordStatus.SIGNED:
        logger.info("No PDF for record %s: it is missing or not signed.", record_id)
        return None
    addenda = _locked_addenda(record.pk)
    if record.pdf_addenda == len(addenda) and (path := _intact_copy(record)):
        return path
    started = time.monotonic()
    signing = organisation_signing(record.organisation_id)
    with cycle_collection_paused():
        pdf = sign_pdf(
            render_record_pdf_bytes(record, self_signed=signing.self_signed),
            reason=f"Supervision record {record.code}",
            name=record.organisation.name,
            signer=signing.signer,
        )
    seconds = time.monotonic() - started
    digest = hashlib.sha256(pdf).hexdigest()
    with transaction.atomic():
        # Rendering and signing happen outside the lock (a third of a second); two runs store in turn.
        current = (
            Record.objects.select_for_update()
            .only("id", "code", "pdf_path", "pdf_sha256", "pdf_addenda")
            .filter(pk=record.pk)
            .first()
        )
        if _locked_addenda(record.pk) != addenda:
            # An addendum locked meanwhile: the run it queued stores the newer copy.
            logger.info("Record %s changed while its PDF was made; the newer run stores it.", record.code)
            return None
        if current.pdf_addenda == len(addenda) and (path := _intact_copy(current)):
            logger.info(
                "The PDF of record %s was stored by another run (%s); this render (%s) is discarded.",
                record.code, current.pdf_sha256[:12], digest[:12],
            )  # fmt: skip
            return path
        # The first copy of this document, or one made again because the stored file is gone or damaged.
        follows = current.pdf_sha256 if current.pdf_path and current.pdf_addenda == len(addenda) else ""
        relative = pdf_relative_path(record, len(addenda))
        # The record is locked: only the PDF's own fields change.
        _name_the_session(record)
        Record.objects.filter(pk=record.pk).update(
            pdf_path=str(relative), pdf_sha256=digest, pdf_generated_at=timezone.now(), pdf_addenda=len(addenda)
        )
        audit_event(
            action="record.pdf_stored",
            obj=record,
            organisation=record.organisation,
            details={"sha256": digest, "bytes": len(pdf), "content_sha256": record.content_hash,
                     "addenda": len(addenda), "file": relative.name}
            | ({"replaces_lost_copy": follows} if follows else {}),
        )  # fmt: skip
        path = Path(settings.PRIVATE_ROOT) / relative
        _write_atomically(path, pdf)
    logger.info("Stored the signed PDF of record %s (%d bytes, %.2f s).", record.code, len(pdf), seconds)
    return path


# --- Checking an uploaded copy ---------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    check: SignatureCheck
    # The record the file names, only when the person may know which record it is (`record_in_reach`):
    # a head of one school checking another school's PDF learns whether it is intact, not whose it is.
    record: Record | None
    ours: bool  # the file names a record of the person's organisation (named or not)
    file_sha256: str
    produced_here: bool  # byte for byte a copy this installation stored for that record
    latest_copy: bool  # ... and the copy stored now
    content_matches: bool  # the content hash in the file is the one stored when everyone signed

    @property
    def intact(self) -> bool:
        # pyHanko's check leaves a few bytes of the signature's own data unchecked (the CMS
        # digestAlgorithms set): only a file we stored, unchanged, counts as intact.
        return self.check.genuine and self.produced_here

    @property
    def confirmed(self) -> bool:
        return self.intact and self.content_matches


def _stored_copies(record: Record) -> set[str]:
    """SHA-256 of every copy ever stored for the record (each store writes one audit event)."""
    events = AuditEvent.objects.filter(object_type="record", object_code=str(record.code), action="record.pdf_stored")
    return {e.details.get("sha256") for e in events.only("details")} | {record.pdf_sha256}


def _check_against_organisation(data: bytes, organisation_id: int) -> SignatureCheck:
    """Check in the child process against the installation's certificate and every one the organisation
    uploaded (current or replaced), written for the child to a private temporary file."""
    bundle = Path(signing_material().certificate).read_text() + "".join(trusted_pems(organisation_id))
    with tempfile.NamedTemporaryFile("w", prefix="trusted-", suffix=".pem") as f:  # mode 0600
        f.write(bundle)
        f.flush()
        return pdfcheck.check_in_child(data, f.name)


def verify_record_pdf(*, actor: StaffMember, data: bytes, request=None) -> Verification:
    """Check an uploaded PDF: is it intact, which record of the actor's organisation is it, does it match
    what was stored? Names the record only to someone who may reach it. Writes the outcome (and whether
    the record was named) to the audit trail.

    The upload is never parsed here: a file byte for byte the copy stored for one of the organisation's
    records needs no parsing at all; anything else is screened, then parsed in a child process with
    time and memory limits (records/pdfcheck.py), and refused ("could not be checked") past them."""
    file_sha256 = hashlib.sha256(data).hexdigest()
    copy = (
        Record.objects.filter(organisation_id=actor.organisation_id, pdf_sha256=file_sha256, status=RecordStatus.SIGNED)
        .only("code", "content_hash", "pdf_generated_at")
        .first()
    )
    if copy is not None:
        # We signed and stored these very bytes: the signature holds as it did when we checked it then.
        check = SignatureCheck(
            readable=True, signed=True, intact=True, valid=True, whole_file=True, trusted=True,
            signed_at=copy.pdf_generated_at, record_code=str(copy.code), content_sha256=copy.content_hash,
        )  # fmt: skip
        checked = "stored copy"
    elif problem := pdfcheck.screen(data):
        check = SignatureCheck(readable=False, refused=True, problem=problem)
        checked = "refused unread"
    else:
        check = _check_against_organisation(data, actor.organisation_id)
        checked = "refused" if check.refused else "child process"
    try:
        code = uuid.UUID(check.record_code)
    except ValueError:
        code = None
    record = (
        Record.objects.filter(organisation_id=actor.organisation_id, code=code)
        .select_related("session__setting", "session__group", "session__contract__supervisee__user", "supervisor__user")
        .first()
        if code
        else None
    )
    named = bool(record and record_in_reach(actor, record))
    result = Verification(
        check=check,
        record=record if named else None,
        ours=record is not None,
        file_sha256=file_sha256,
        produced_here=bool(record and file_sha256 in _stored_copies(record)),
        latest_copy=bool(record and file_sha256 == record.pdf_sha256),
        content_matches=bool(record and check.content_sha256 and check.content_sha256 == record.content_hash),
    )
    audit_event(
        action="record.verified",
        actor=actor.user,
        obj=record,
        organisation=actor.organisation,
        request=request,
        details={
            "outcome": "not checked" if check.refused else "confirmed" if result.confirmed else "not confirmed",
            "checked": checked,
            "intact": result.intact,
            "signature": check.genuine,
            "problem": check.problem,
            "claimed_record": check.record_code[:64],
            # Whether the answer named the record: False when it is outside what the person may see.
            "named": named,
            "produced_here": result.produced_here,
            "latest_copy": result.latest_copy,
            "content_matches": result.content_matches,
            "file_sha256": file_sha256,
            "bytes": len(data),
        },
    )
    return result
