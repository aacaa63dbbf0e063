"""Every name a school will have prints in the signed PDF (issue 17): Chinese, Japanese, Korean, Arabic,
Urdu, Devanagari, Bengali, Greek, Cyrillic, Welsh and Irish, in the title, the people table, the actions
and the signatures. WeasyPrint logs a `.notdef` warning for any character no font in the stack has; the
fonts come from the Debian packages the Makefile installs, subset into the file, never fetched."""

import logging
import re
import subprocess
import unicodedata
from datetime import date, timedelta

import pytest

from records import pdf, services
from supervision.services import group_create, session_book
from tests.factories import PASSWORD, StaffFactory
from tests.supervision.helpers import at

NAMES = [
    "王小明",  # Chinese
    "山田さくら",  # Japanese: kanji and kana
    "김민준",  # Korean
    "محمد حسن",  # Arabic (not "al-": pdftotext reads the lam-alef ligature back as other letters)
    "عائشہ خان",  # Urdu
    "प्रिया",  # Devanagari
    "অনিক রায়",  # Bengali
    "Γιώργος Παπαδόπουλος",  # Greek
    "Анна Иванова",  # Cyrillic
    "Siân Ŵyn Llŷr",  # Welsh
    "Órlaith Ní Bhriain",  # Irish
]
SUPERVISOR = "Seán Ó Dálaigh"
GROUP = "Grŵp Myfyrio 反思小组"
# Direction marks pdftotext puts around right-to-left runs, and the spaces it puts inside shaped clusters.
NOT_TEXT = re.compile(r"[\s\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


def comparable(text: str) -> str:
    return NOT_TEXT.sub("", unicodedata.normalize("NFC", text))


def signed_group_record(cast):
    cast.supervisor.user.full_name = SUPERVISOR
    cast.supervisor.user.save(update_fields=["full_name"])
    people = [
        StaffFactory(organisation=cast.organisation, settings=[cast.primary], user__full_name=name) for name in NAMES
    ]
    group = group_create(
        actor=cast.supervisor, name=GROUP, setting=cast.primary, supervisor=cast.supervisor, members=people,
        confidentiality_boundaries="What is said stays in the room, except safeguarding concerns.",
    )  # fmt: skip
    session = session_book(
        actor=cast.supervisor, group=group, starts_at=at(date(2025, 11, 3), 15), minutes=60, check=False, send=False
    )
    record = services.record_start(actor=cast.supervisor, session=session)
    section = record.sections.order_by("template_section__order").first()
    services.section_save(actor=cast.supervisor, section=section, discussion=f"{NAMES[0]} led; {NAMES[3]} noted.")
    for person in people[:4]:
        services.action_add(
            actor=cast.supervisor, record=record, description=f"Share the plan with {person.full_name}",
            owner=person, due_date=date(2025, 11, 3) + timedelta(days=14),
        )  # fmt: skip
    services.record_submit(actor=cast.supervisor, record=record)
    for person in [*people, cast.supervisor]:
        services.record_sign(actor=person, record=record, password=PASSWORD)
    record.refresh_from_db()
    return record


def test_every_name_renders_with_a_glyph_and_reads_back(cast, caplog, tmp_path):
    record = signed_group_record(cast)
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        path = pdf.store_record_pdf(record.id)
    missing = [r.getMessage() for r in caplog.records if "notdef" in r.getMessage()]
    assert missing == []

    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True).stdout
    found = comparable(text.decode())
    for name in [*NAMES, SUPERVISOR, GROUP]:
        assert comparable(name) in found, (name, found)
    # Each name is in the people table, the signatures and, for four of them, the actions.
    for name in NAMES[:4]:
        assert found.count(comparable(name)) >= 3, name
    assert comparable(f"Group supervision: {GROUP}") in found  # the title

    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout
    embedded = [line.split()[0] for line in fonts.splitlines()[2:]]
    # Subsets (a six-letter tag before the name) of the packaged fonts, embedded in the file.
    for family in ("WenQuanYi-Micro-Hei", "Noto-Sans-Arabic", "Noto-Sans-Devanagari", "Noto-Sans-Bengali"):
        assert any(re.fullmatch(rf"[A-Z]{{6}}\+{family}", name) for name in embedded), (family, embedded)


def test_a_character_no_font_has_is_caught_by_the_check(caplog):
    # The check above can fail: a private-use character has no glyph in any font and is logged.
    html = '<html lang="en"><body><p style="font-family: \'Record Sans\'">\ue000</p></body></html>'
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf.html_to_pdf(html)
    assert any("notdef" in r.getMessage() for r in caplog.records)
