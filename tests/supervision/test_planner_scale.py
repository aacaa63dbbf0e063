"""The planner page does no work a row beyond printing it (issue 14: the whole trust's plan, 12,000 rows).

Speed itself is measured by `make bench`; here, the work that used to grow with the rows: a form built
for every row (Django deep-copies its fields), a widget template rendered for each of its inputs, and a
reverse() for every agreement that could not be placed.
"""

from collections import Counter
from datetime import date

import pytest
from django.forms.widgets import Widget
from django.urls import reverse
from django.urls.resolvers import URLResolver

from supervision import services
from supervision.views import planner as planner_view
from tests.factories import StaffFactory

from .helpers import signed_contract

pytestmark = pytest.mark.django_db

TODAY = "2026-10-01 09:00 +0100"


@pytest.fixture(autouse=True)
def _today(time_machine):
    time_machine.move_to(TODAY, tick=False)


def _agreements(cast, n):
    for _ in range(n):
        signed_contract(StaffFactory(organisation=cast.organisation, settings=[cast.primary]), cast.supervisor)
        # One that cannot be placed: it is not signed.
        services.contract_create(
            actor=cast.supervisor,
            supervisee=StaffFactory(organisation=cast.organisation, settings=[cast.primary]),
            supervisor=cast.supervisor,
            start_date=date(2026, 9, 1),
        )


def test_the_page_builds_no_form_renders_no_widget_and_reverses_no_url_a_row(cast, login, monkeypatch):
    services.ensure_calendar(cast.organisation, today=date(2026, 10, 1))
    client = login(cast.supervisor)
    calls = Counter()
    form_init = planner_view.PlanRowForm.__init__

    def counting_init(self, *args, **kwargs):
        calls["form"] += 1
        form_init(self, *args, **kwargs)

    monkeypatch.setattr(planner_view.PlanRowForm, "__init__", counting_init)
    resolve_back = URLResolver._reverse_with_prefix

    def counting_reverse(self, *args, **kwargs):
        calls["reverse"] += 1
        return resolve_back(self, *args, **kwargs)

    monkeypatch.setattr(URLResolver, "_reverse_with_prefix", counting_reverse)
    widget_render = Widget._render

    def counting_render(self, *args, **kwargs):
        calls["widget"] += 1
        return widget_render(self, *args, **kwargs)

    monkeypatch.setattr(Widget, "_render", counting_render)

    url = reverse("supervision:planner")

    def page():
        calls.clear()
        response = client.get(url)
        assert response.status_code == 200
        return dict(calls), len(response.context["rows"]), len(response.context["plan"].unplaced)

    _agreements(cast, 2)
    small, small_rows, small_unplaced = page()
    _agreements(cast, 6)
    large, large_rows, large_unplaced = page()
    assert (small_rows, large_rows) == (2, 8) and (small_unplaced, large_unplaced) == (2, 8)
    assert small == large


def test_a_trusts_plan_reads_the_organisations_rows_and_plans_the_same(cast, monkeypatch):
    """Beyond MANY_PEOPLE the busy times, hours and booked sessions are read for the whole organisation and
    kept for the plan's people and agreements: the plan must be the one the narrow reading gives."""
    from supervision import planner, slots
    from supervision.models import Contract, HalfTerm

    from .helpers import at

    services.ensure_calendar(cast.organisation, today=date(2026, 10, 1))
    half_term = HalfTerm.objects.get(organisation=cast.organisation, starts=date(2026, 11, 2))
    _agreements(cast, 4)
    mine = signed_contract(cast.supervisee, cast.supervisor, start=date(2026, 9, 1))
    services.session_book(actor=cast.supervisor, starts_at=at(date(2026, 11, 3), 9), minutes=30, contract=mine)
    # Another supervisor's session at a time the plan would otherwise take: it must still count as busy.
    theirs = signed_contract(cast.supervisee2, cast.supervisor2, start=date(2026, 9, 1))
    services.session_book(actor=cast.supervisor2, starts_at=at(date(2026, 11, 2), 9), minutes=30, contract=theirs)
    contracts = Contract.objects.filter(supervisor=cast.supervisor)

    def plan():
        found = planner.plan_half_term(organisation=cast.organisation, half_term=half_term, contracts=contracts)
        return [(p.contract.id, p.starts_at) for p in found.proposals], [u.contract.id for u in found.already_booked]

    narrow = plan()
    for module in (planner, slots):
        monkeypatch.setattr(module, "MANY_PEOPLE", 0)
    assert plan() == narrow
    assert narrow[1] == [mine.id] and len(narrow[0]) == 4
