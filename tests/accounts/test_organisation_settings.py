"""Issue 15: the organisation's settings page (/organisation/): name, address and logo for the PDF header,
default frequency, session length, retention period and email sender name; each checked with a message
beside its field, each change audited with before and after; the logo served only to the organisation's
signed-in members and drawn into the PDF through the renderer's refusing fetcher."""

import hashlib
from io import BytesIO

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from accounts.emails import send_templated_email
from accounts.models import AuditEvent, Organisation, OrganisationLogo, Role
from tests.factories import StaffFactory

PAGE = reverse("accounts:organisation-settings")


def image_bytes(fmt="PNG", size=(120, 40), colour=(29, 78, 137)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def good_values(cast, **changes):
    organisation = cast.organisation
    values = {
        "name": organisation.name,
        "address": organisation.address,
        "default_frequency": organisation.default_frequency,
        "default_session_minutes": organisation.default_session_minutes,
        "retention_months": organisation.retention_months,
        "email_sender_name": organisation.email_sender_name,
    }
    values.update(changes)
    return values


def test_the_page_shows_the_current_values_and_links_to_the_related_pages(cast, login):
    response = login(cast.org_admin).get(PAGE)
    assert response.status_code == 200
    form = response.context["form"]
    assert form["name"].value() == "Cast Trust"
    assert form["retention_months"].value() == 12
    body = response.content.decode()
    for name in ("accounts:second-factor-rule", "records:signing-certificate", "accounts:setting-list"):
        assert reverse(name) in body


def test_a_good_change_is_saved_and_audited_with_before_and_after(cast, login):
    client = login(cast.org_admin)
    response = client.post(
        PAGE,
        good_values(
            cast,
            name="  Cast   Learning Trust ",
            address="1 School Lane\r\nTown\r\n\r\nAB1 2CD",
            default_frequency="monthly",
            default_session_minutes="45",
            retention_months="24",
            email_sender_name="Cast Learning Trust",
        ),
    )
    assert response.status_code == 302
    organisation = Organisation.objects.get(pk=cast.organisation.pk)
    assert organisation.name == "Cast Learning Trust"
    assert organisation.address == "1 School Lane\nTown\nAB1 2CD"
    assert (organisation.default_frequency, organisation.default_session_minutes) == ("monthly", 45)
    assert organisation.retention_months == 24
    assert organisation.email_sender_name == "Cast Learning Trust"
    event = AuditEvent.objects.get(action="organisation.settings_changed")
    assert event.actor == cast.org_admin.user
    assert event.details["changes"] == {
        "name": ["Cast Trust", "Cast Learning Trust"],
        "address": ["", "1 School Lane\nTown\nAB1 2CD"],
        "default_frequency": ["half_termly", "monthly"],
        "default_session_minutes": [30, 45],
        "retention_months": [12, 24],
        "email_sender_name": ["", "Cast Learning Trust"],
    }
    assert "Organisation settings changed" in client.get(reverse("accounts:audit-list")).content.decode()
    # Saving again unchanged writes nothing.
    unchanged = {key: after for key, (_, after) in event.details["changes"].items()}
    assert client.post(PAGE, unchanged).status_code == 302
    assert AuditEvent.objects.filter(action="organisation.settings_changed").count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "This field is required."),
        ("name", "Cast\nTrust", "one line"),
        ("default_session_minutes", "5", "Choose between 15 and 180 minutes."),
        ("default_session_minutes", "600", "Choose between 15 and 180 minutes."),
        ("default_session_minutes", "half an hour", "Enter a whole number."),
        ("retention_months", "6", "Choose between 12 and 84 months."),
        ("retention_months", "120", "Choose between 12 and 84 months."),
        ("default_frequency", "daily", "Select a valid choice."),
        ("email_sender_name", "Cast <evil@example.org>", "plain name"),
        ("email_sender_name", 'Cast "Trust"', "plain name"),
        ("email_sender_name", "Cast\r\nBcc: x@example.org", "one line"),
    ],
)
def test_bad_input_is_refused_beside_its_field_and_changes_nothing(cast, login, field, value, message):
    response = login(cast.org_admin).post(PAGE, good_values(cast, **{field: value}))
    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert any(message in e for e in errors), errors
    assert Organisation.objects.get(pk=cast.organisation.pk).name == "Cast Trust"
    assert not AuditEvent.objects.filter(action="organisation.settings_changed").exists()


def test_only_an_organisation_wide_admin_changes_the_organisation(cast, login):
    setting_admin = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, cast.primary)]
    )
    assert login(setting_admin).post(PAGE, good_values(cast, name="Taken over")).status_code == 403
    assert Organisation.objects.get(pk=cast.organisation.pk).name == "Cast Trust"


# --- The logo -----------------------------------------------------------------------------------------


def post_logo(client, cast, data, name="logo.png", content_type="image/png", **changes):
    return client.post(PAGE, {**good_values(cast, **changes), "logo": SimpleUploadedFile(name, data, content_type)})


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_png_or_jpeg_logo_is_re_encoded_stored_and_served_to_members_only(cast, login, client, fmt):
    admin = login(cast.org_admin)
    original = image_bytes(fmt, size=(2000, 500)) + b"<script>trailing bytes</script>"
    assert post_logo(admin, cast, original).status_code == 302
    logo = OrganisationLogo.objects.get(organisation=cast.organisation)
    assert logo.content_type == f"image/{fmt.lower()}"
    assert (logo.width, logo.height) == (800, 200)  # scaled down for a PDF header
    assert b"<script>" not in bytes(logo.image)
    with Image.open(BytesIO(bytes(logo.image))) as stored:
        assert stored.format == fmt
    event = AuditEvent.objects.get(action="organisation.settings_changed")
    assert event.details["changes"] == {"logo": [None, logo.sha256]}
    url = reverse("accounts:organisation-logo", kwargs={"digest": logo.sha256})
    assert url in admin.get(PAGE).content.decode()

    member = login(cast.supervisee).get(url)
    assert member.status_code == 200 and member["Content-Type"] == logo.content_type
    assert member.content == bytes(logo.image)
    assert "no-store" in member["Cache-Control"]
    assert login(cast.outsider).get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (image_bytes("GIF"), "logo.gif", "must be a PNG or JPEG"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.svg", "not a PNG or JPEG image that can be read"),
        (image_bytes("PNG")[:60], "logo.png", "not a PNG or JPEG image that can be read"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (600 * 1024), "logo.png", "the largest allowed is 512 KB"),
    ],
    ids=["gif", "svg", "truncated", "too large"],
)
def test_a_bad_logo_is_refused_beside_the_field(cast, login, data, name, message):
    response = post_logo(login(cast.org_admin), cast, data, name=name, address="Changed too")
    assert response.status_code == 200
    assert any(message in e for e in response.context["form"].errors["logo"]), response.context["form"].errors
    assert not OrganisationLogo.objects.exists()
    assert Organisation.objects.get(pk=cast.organisation.pk).address == ""  # nothing else saved either


def test_the_logo_is_removed_and_audited(cast, login):
    client = login(cast.org_admin)
    post_logo(client, cast, image_bytes())
    digest = OrganisationLogo.objects.get().sha256
    assert client.post(PAGE, {**good_values(cast), "remove_logo": "on"}).status_code == 302
    assert not OrganisationLogo.objects.exists()
    assert AuditEvent.objects.filter(action="organisation.settings_changed").order_by("id").last().details[
        "changes"
    ] == {"logo": [digest, None]}


def test_the_logo_and_address_are_in_the_record_pdf_through_the_refusing_fetcher(cast, login, settings, tmp_path):
    from records import pdf
    from tests.records.helpers import signed_record

    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = ""
    post_logo(login(cast.org_admin), cast, image_bytes(), address="1 School Lane\nTown")
    record = signed_record(cast)
    pdf.record_stylesheet()  # parsed once a thread, fonts and all: the render's one new fetcher is the document's
    fetchers = []
    real = pdf.BundledFilesOnly

    def spy(**kwargs):
        fetchers.append(real(**kwargs))
        return fetchers[-1]

    pdf.BundledFilesOnly, original = spy, pdf.BundledFilesOnly
    try:
        data = pdf.render_record_pdf_bytes(record)
    finally:
        pdf.BundledFilesOnly = original
    (fetcher,) = fetchers
    assert pdf.LOGO_URL in fetcher.fetched and fetcher.refused == []
    assert b"/Subtype /Image" in data or b"/Subtype/Image" in data
    import subprocess

    text = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()
    assert "1 School Lane" in text
    # Only that exact address is in memory: any other memory: URL is refused like any other scheme.
    with pytest.raises(pdf.RefusedURL):
        fetcher.fetch("memory:something-else")


# --- The email sender name ----------------------------------------------------------------------------


def test_outgoing_email_comes_from_the_organisations_sender_name(cast, login, settings):
    settings.DEFAULT_FROM_EMAIL = "Supervision <supervision@cast.example>"
    login(cast.org_admin).post(PAGE, good_values(cast, email_sender_name="Cast Learning Trust"))
    send_templated_email(
        "second_factor_reset", cast.supervisee.user.email, {"staff": cast.supervisee, "actor": cast.org_admin}
    )
    send_templated_email(
        "second_factor_reset", cast.outsider.user.email, {"staff": cast.outsider, "actor": cast.outsider}
    )
    ours, theirs = mail.outbox[-2:]
    assert ours.message()["From"] == "Cast Learning Trust <supervision@cast.example>"
    assert theirs.from_email == "Supervision <supervision@cast.example>"  # the other organisation set none


def test_query_count_of_the_page_does_not_grow_with_the_organisation(cast, login):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import SettingFactory

    client = login(cast.org_admin)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(PAGE).status_code == 200
        return len(queries)

    small = count()
    for i in range(5):
        SettingFactory(organisation=cast.organisation, name=f"Extra {i}")
        StaffFactory(organisation=cast.organisation, settings=[cast.primary])
    assert count() == small


def test_the_stored_logo_hash_is_its_sha256(cast, login):
    post_logo(login(cast.org_admin), cast, image_bytes())
    logo = OrganisationLogo.objects.get()
    assert logo.sha256 == hashlib.sha256(bytes(logo.image)).hexdigest()
