"""Every page each demo person reaches, checked by axe-core for WCAG 2.2 A and AA, and for reflow at 320 px
(issue 16).

The pages come from the permission table (`tests/permissions.py`): for each demo person, every URL name
with a GET, its arguments filled from the demo's own objects (the person's own first), kept when the
person gets a 200 HTML page. A new URL is checked as soon as it has its row; a new kind of argument
without a way to find it in the demo fails here, naming it.
"""

import io
import re
import time

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.management import call_command
from django.db.models import Case, IntegerField, Q, Value, When
from django.templatetags.static import static
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Setting, StaffImportJob, StaffMember
from records.models import (
    Addendum,
    AuditorGrant,
    ExportJob,
    Record,
    RecordStatus,
    RecordTemplate,
    SafeguardingDecision,
)
from supervision.dashboard import FIGURES
from supervision.models import AgreementRun, Contract, HalfTerm, Session, SupervisionGroup
from tests.permissions import TABLE

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# axe-core from npm, served with the other front-end packages: loaded from the page's own origin, so the
# pages are checked under their real Content Security Policy.
AXE_URL = static("vendor/axe-core/axe.min.js")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
DEMO_PEOPLE = [f"{who}@riverside.example" for who in ("admin", "head", "dsl", "supervisor", "staff", "auditor")]
# How many of the demo's objects of one kind are tried for one URL before the person is taken not to reach it.
TRIES = 4


def _mine_first(queryset, mine: Q):
    if not mine:
        return queryset.order_by("-pk")[:TRIES]
    return queryset.annotate(
        mine=Case(When(mine, then=Value(0)), default=Value(1), output_field=IntegerField())
    ).order_by("mine", "-pk")[:TRIES]


def _codes(queryset, mine: Q):
    return [{"code": code} for code in _mine_first(queryset, mine).values_list("code", flat=True)]


def _records(staff, **filters):
    records = Record.objects.filter(organisation=staff.organisation, **filters)
    return _codes(records, Q(supervisor=staff) | Q(session__contract__supervisee=staff))


def _token(staff):
    user = staff.user
    return [{"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)}]


# kind of argument -> fn(staff) -> candidate URL arguments from the demo, the person's own first.
DEMO_ARGUMENTS = {
    "uidb64/token": _token,
    "staff": lambda s: (
        [{"code": s.code}]
        + [
            {"code": c}
            for c in StaffMember.objects.filter(organisation=s.organisation)
            .exclude(pk=s.pk)
            .values_list("code", flat=True)[: TRIES - 1]
        ]
    ),  # fmt: skip
    "contract": lambda s: _codes(
        Contract.objects.filter(organisation=s.organisation), Q(supervisee=s) | Q(supervisor=s)
    ),
    "session": lambda s: _codes(
        Session.objects.filter(organisation=s.organisation, starts_at__gte=_now()),
        Q(supervisor=s) | Q(contract__supervisee=s),
    ),
    "group": lambda s: _codes(
        SupervisionGroup.objects.filter(organisation=s.organisation), Q(supervisor=s) | Q(members=s)
    ),
    "half_term": lambda s: _codes(HalfTerm.objects.filter(organisation=s.organisation), Q()),
    "record": lambda s: _records(s),
    "signed_record": lambda s: _records(s, status=RecordStatus.SIGNED),
    "decision": lambda s: _codes(
        SafeguardingDecision.objects.filter(organisation=s.organisation, confirmed_at__isnull=True), Q(key_person=s)
    ),
    "template": lambda s: _codes(RecordTemplate.objects.filter(organisation=s.organisation), Q()),
    "figure": lambda s: [{"figure": figure} for figure in FIGURES],
    "export": lambda s: _codes(ExportJob.objects.filter(organisation=s.organisation), Q(requested_by=s)),
    "agreement_run": lambda s: _codes(AgreementRun.objects.filter(organisation=s.organisation), Q()),
    "setting": lambda s: _codes(Setting.objects.filter(organisation=s.organisation), Q()),
    "staff_import_job": lambda s: _codes(StaffImportJob.objects.filter(organisation=s.organisation), Q(requested_by=s)),
    "grant": lambda s: _codes(AuditorGrant.objects.filter(organisation=s.organisation), Q(auditor=s)),
    "addendum": lambda s: [
        {"code": a.record.code, "addendum": a.code}
        for a in Addendum.objects.filter(record__organisation=s.organisation)
    ][:TRIES],
    # Pages reached only from a link in an email or a file download: none in the demo, nothing to check.
    "feed": lambda s: [],
    "email_change_confirm": lambda s: [],
    "email_change_verify": lambda s: [],
    "oidc_provider": lambda s: [],
    "organisation_logo": lambda s: [],
    # A person search answers a form's search box with a fragment, not a page: the demo's forms list their
    # few people instead, and tests/browser/test_person_picker.py checks a large form's search with axe.
    "picker": lambda s: [],
}


def _now():
    from django.utils import timezone

    return timezone.now()


def reachable_pages(email: str) -> list[str]:
    """The paths of every HTML page the person gets a 200 on, one per URL name."""
    staff = StaffMember.objects.select_related("user", "organisation").get(user__email=email)
    client = Client()
    client.force_login(staff.user)
    pages, unknown = [], []
    for name, row in TABLE.items():
        if "GET" not in row.methods:
            continue
        if row.kind is None:
            candidates = [{}]
        elif row.kind in DEMO_ARGUMENTS:
            candidates = DEMO_ARGUMENTS[row.kind](staff)
        else:
            unknown.append(row.kind)
            continue
        for kwargs in candidates:
            try:
                path = reverse(name, kwargs=kwargs)
            except NoReverseMatch:
                continue
            response = client.get(path)
            if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
                pages.append(path)
                break
    assert not unknown, f"No way to find demo objects for these kinds of URL argument: {sorted(set(unknown))}"
    return pages


def axe_violations(page) -> list[str]:
    """One line per element that breaks a rule: the rule, its impact and the element's selector."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return [
        f"{rule['id']} ({rule['impact']}): {' > '.join(map(str, node['target']))}: {node['failureSummary']!r}"
        for rule in results["violations"]
        for node in rule["nodes"]
    ]


# "1 records", "1 safeguarding decisions": a count of one before a plural noun ("1 of 3 days" is right).
WRONG_PLURAL = re.compile(r"(?<![\d.,:/£-])\b1\s+([a-z]+s)\b(?!\s+of\b)")
SINGULAR_WORDS_ENDING_IN_S = {
    "class",
    "business",
    "status",
    "process",
    "access",
    "address",
    "bus",
    "plus",
    "has",
    "is",
    "was",
    "this",
    "its",
    "as",
    "us",
}


def wrong_plurals(page) -> list[str]:
    text = page.evaluate("() => document.body.innerText")
    return [
        " ".join(text[max(0, m.start() - 30) : m.end()].split())
        for m in WRONG_PLURAL.finditer(text)
        if m.group(1) not in SINGULAR_WORDS_ENDING_IN_S
    ]


def settle(page) -> None:
    """Waits two frames after a resize, for what lays itself out again (charts) to do so."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def overflows_sideways(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1")


@pytest.fixture
def demo_trust(monkeypatch):
    from records.tasks import render_record_pdf

    monkeypatch.setattr(render_record_pdf, "delay", lambda *args, **kwargs: None)
    call_command("seed_demo", quiet_logins=True, stdout=io.StringIO())


def test_every_page_of_every_demo_person_passes_axe_and_reflows_at_320px(demo_trust, browser, live_server):
    problems, checked, started = [], 0, time.monotonic()
    for email in DEMO_PEOPLE:
        pages = reachable_pages(email)
        print(f"{email}: {len(pages)} pages found after {time.monotonic() - started:.0f} s")
        assert len(pages) > 5, (email, pages)
        # One browser per person, kept for all their pages.
        context = browser.new_context(locale="en-GB", timezone_id="Europe/London", base_url=live_server.url)
        context.set_default_timeout(15000)
        page = context.new_page()
        sign_in(page, email, settings.DEMO_PASSWORD)
        for path in pages:
            # Opened on a phone first, as someone on one would (charts size themselves when drawn), then
            # widened to a laptop's screen for axe.
            page.set_viewport_size({"width": 320, "height": 640})
            page.goto(path)
            page.wait_for_load_state("load")
            if overflows_sideways(page):
                problems.append(f"{email} {path}: scrolls sideways at 320 px")
            page.set_viewport_size({"width": 1280, "height": 800})
            settle(page)
            if overflows_sideways(page):
                problems.append(f"{email} {path}: scrolls sideways at 1280 px")
            problems += [f"{email} {path}: {violation}" for violation in axe_violations(page)]
            problems += [f"{email} {path}: wrong plural: {words!r}" for words in wrong_plurals(page)]
            checked += 1
        context.close()
    print(f"\naxe-core and reflow: {checked} pages checked, {len(problems)} problems")
    assert problems == [], f"{len(problems)} problems over {checked} pages:\n" + "\n".join(problems)
