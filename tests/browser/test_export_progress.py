"""An auditor follows an export whose PDFs the workers are still making (issue 14): the page counts them
as they are made, without a reload, and then offers the file."""

import io
import os
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from records import tasks
from records.access import records_in_grant
from records.models import AuditorGrant, ExportJob
from tests.records.helpers import hold_back_export_renders

from .conftest import sign_in
from .test_accessibility import axe_violations, overflows_sideways, settle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def held_renders(monkeypatch):
    """The whole demo, as `make run` seeds it, with no PDF rendered (its signed records have none yet); an
    export's render tasks are kept rather than run, and its later looks are not run either (Celery is eager
    in tests), so the test plays the workers' part."""
    monkeypatch.setattr(tasks.render_record_pdf, "delay", lambda *args, **kwargs: None)
    call_command("seed_demo", quiet_logins=True, stdout=io.StringIO())
    # The auditor's grant narrowed to its last few sessions: a handful of PDFs to make, not the demo's sixty.
    grant = AuditorGrant.objects.get()
    recent = records_in_grant(grant).select_related("session").order_by("-session__starts_at")[2]
    AuditorGrant.objects.filter(pk=grant.pk).update(covers_from=timezone.localdate(recent.session.starts_at))
    return hold_back_export_renders(monkeypatch)


def test_the_auditor_watches_the_pdfs_being_made_and_then_downloads(held_renders, page):
    sign_in(page, "auditor@riverside.example", settings.DEMO_PASSWORD)
    page.goto("/exports/")
    page.get_by_role("button", name="Export the signed records of this grant").first.click()
    page.wait_for_load_state("load")
    job = ExportJob.objects.get()
    total = len(held_renders)
    assert total > 1 and job.making_pdfs and job.total == total
    status = page.get_by_role("status")
    making = f"Making the signed PDFs it needs first: 0 of {total} made. The file is written next."
    assert status.inner_text().endswith(making)
    page.set_viewport_size({"width": 320, "height": 640})
    assert not overflows_sideways(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    settle(page)
    assert axe_violations(page) == []

    first = held_renders[0]
    tasks.render_record_pdf(*first.args, **first.kwargs)  # a worker makes one
    page.get_by_text(f"1 of {total} made.").wait_for()  # polled in, no reload
    bar = page.get_by_role("progressbar", name="Signed PDFs made")
    assert bar.get_attribute("aria-valuetext") == f"{100 // total}%: 1 of {total} PDFs made"
    if os.environ.get("SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOTS"], "export-making-pdfs.png"))

    for signature in held_renders[1:]:
        tasks.render_record_pdf(*signature.args, **signature.kwargs)
    tasks.run_export(job.id, polls=1)  # the export's next look: all stored, so it writes the file
    page.get_by_role("link", name=re.compile("Download the ZIP")).wait_for()
    assert "Making the signed" not in status.inner_text()
