"""Issue 15, done when: a school starts on its own, in a browser. On an organisation made by
`create_organisation` (not the demo) the first admin accepts the emailed invitation, sets up the sign-in
second factor the organisation's rule asks of admins, adds two settings, imports 30 staff with their
supervisors and makes everyone's agreements; a supervisee and their supervisor accept their own
invitations and sign their agreement; the supervisor plans and books the first half term. The setup
checklist on the admin's home counts each step as it is done, and goes once every step is."""

import re
from io import StringIO

import pyotp
import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Organisation, Role, Setting, StaffMember
from supervision.models import Contract, Session, SessionStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMIN = "fay.first@brook.example"
PRIMARY, NURSERY = "Brook Primary School", "Little Acorns Nursery"
HEAD = "helen.hughes@brook.example"
KS1_LEAD = "priya.patel@brook.example"  # the supervisor who signs and plans
SUPERVISEE = "amir.khan@brook.example"  # one of Priya's supervisees
KS2_LEAD = "tom.reid@brook.example"
NURSERY_MANAGER = "nina.shah@brook.example"
HEADER = "first name,last name,email,job title,setting,employment type,working days,start date,supervisor email,roles"
OTHERS = (
    "Grace Adams", "Olivia Bennett", "Ravi Sharma", "Megan Lloyd", "Ben Carter", "Chloe Davies", "Daniel Evans",
    "Emma Foster", "Finn Gallagher", "Hannah Ingram", "Isaac Jones", "Jasmine Kaur", "Kieran Lewis",
    "Lucy Morgan", "Mohammed Nasser", "Niamh O'Brien", "Oscar Price", "Poppy Quinn", "Rosa Santos",
    "Sam Turner", "Tara Underwood", "Usman Vance", "Violet Walsh", "Will Young", "Zara Ahmed",
)  # fmt: skip


def staff_file(nina_roles="supervisor") -> str:
    """30 people of the two settings. Amir's row comes before his supervisor's, and the leads are
    supervised by the head, who is in the file too: every supervisor is someone the file brings."""
    rows = [
        f"Amir,Khan,{SUPERVISEE},Year 1 Teacher,{PRIMARY},permanent,Mon Tue Wed Thu Fri,01/09/2025,{KS1_LEAD},",
        f"Priya,Patel,{KS1_LEAD},Key Stage 1 Lead,{PRIMARY},permanent,,01/09/2020,{HEAD},supervisor",
        f"Helen,Hughes,{HEAD},Headteacher,{PRIMARY},permanent,,01/09/2018,,head;supervisor",
        f"Tom,Reid,{KS2_LEAD},Key Stage 2 Lead,{PRIMARY},permanent,,01/09/2021,{HEAD},supervisor",
        f"Nina,Shah,{NURSERY_MANAGER},Nursery Manager,{NURSERY},permanent,,01/09/2019,{HEAD},{nina_roles}",
    ]
    leads = (KS1_LEAD, KS2_LEAD, NURSERY_MANAGER)
    for index, name in enumerate(OTHERS):
        first, last = name.split(" ", 1)
        lead = leads[index % 3]
        setting = NURSERY if lead == NURSERY_MANAGER else PRIMARY
        days = "Mon Tue Wed" if index % 4 == 1 else "Mon Tue Wed Thu Fri"  # part-time staff too
        email = f"{first}.{last}@brook.example".lower().replace("'", "")
        rows.append(f"{first},{last},{email},Teaching Assistant,{setting},permanent,{days},01/09/2024,{lead},")
    return "\n".join([HEADER, *rows]) + "\n"


def invitation_path(email: str) -> str:
    """The set-password link of the last invitation emailed to this address, as a path on the live server."""
    invitations = [m for m in mail.outbox if m.to == [email] and m.subject.startswith("You are invited")]
    assert invitations, f"No invitation was emailed to {email}."
    return re.search(r"https?://[^/\s]+(/accounts/invitation/\S+/)", invitations[-1].body).group(1)


def accept_invitation(page, email: str, password: str) -> None:
    page.goto(invitation_path(email))
    page.get_by_label(re.compile("New password")).fill(password)
    page.get_by_label("Type the new password again").fill(password)
    page.get_by_role("button", name="Set my password").click()
    page.get_by_role("heading", name="Your password is set").wait_for()
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


def progress(page) -> str:
    page.goto("/")
    return page.locator("#setup-progress-text").inner_text()


def step_done(page, key: str) -> bool:
    return page.locator(f'#setup-checklist [data-step="{key}"]').get_by_text("Done", exact=True).is_visible()


def test_a_new_school_starts_from_nothing_to_its_first_half_term(new_page):
    out = StringIO()
    call_command("create_organisation", "--name", "Brook Learning Trust", "--admin-email", ADMIN,
                 "--admin-name", "Fay First", stdout=out)  # fmt: skip
    organisation = Organisation.objects.get(name="Brook Learning Trust")
    assert organisation.require_second_factor  # the rule stays on: the admin sets up a second factor
    # The link is printed as well as emailed (made a moment apart, so with its own timestamp).
    assert invitation_path(ADMIN).rsplit("/", 2)[0] in out.getvalue()

    # 1. The first admin accepts the invitation, sets up an authenticator app as the rule asks, and
    # finds the checklist on their home.
    admin = new_page()
    accept_invitation(admin, ADMIN, "fay-first-password-1")
    assert admin.url.endswith("/accounts/security/")
    admin.get_by_role("button", name="Set up an authenticator app").click()
    app = pyotp.TOTP(admin.get_by_test_id("setup-key").inner_text().replace(" ", ""))
    admin.get_by_role("textbox", name="Code").fill(app.now())
    admin.get_by_role("button", name="Turn it on").click()
    admin.get_by_role("link", name="I have kept them safe").click()
    admin.get_by_role("link", name=re.compile("^Supervision")).click()  # the brand: each person's home
    checklist = admin.locator("#setup-checklist")
    assert checklist.get_by_role("heading", name="Setting up Brook Learning Trust").is_visible()
    assert checklist.get_by_text("0 of 8 steps done.").is_visible()

    # 2. Two settings, each with its school day, from the checklist's link.
    checklist.get_by_role("link", name=re.compile("Settings and their school day")).click()
    for name, kind, starts, ends in ((PRIMARY, "Primary school", "08:30", "15:30"),
                                     (NURSERY, "Nursery", "07:45", "17:45")):  # fmt: skip
        admin.get_by_role("link", name="Add a setting").first.click()
        admin.get_by_label("Name").fill(name)
        admin.get_by_label("Kind").select_option(label=kind)
        admin.get_by_label("School day starts").fill(starts)
        admin.get_by_label("School day ends").fill(ends)
        admin.get_by_role("button", name="Add the setting").click()
        admin.wait_for_load_state("load")
        row = admin.get_by_role("row").filter(has_text=name)
        assert row.get_by_role("cell", name=f"{starts} to {ends}").is_visible()
    assert progress(admin) == "1 of 8 steps done."
    assert step_done(admin, "settings")

    # The other checks a real school makes: term dates, agreement wording, record forms.
    admin.locator('#setup-checklist [data-step="term_dates"]').get_by_role("link").click()
    admin.get_by_role("button", name="I have checked these dates").click()
    admin.wait_for_load_state("load")
    admin.goto("/")
    admin.locator('#setup-checklist [data-step="agreement_wording"]').get_by_role("link").click()
    admin.get_by_role("button", name=re.compile("^Save")).click()
    admin.wait_for_load_state("load")
    admin.goto("/")
    admin.locator('#setup-checklist [data-step="record_forms"]').get_by_role("link").click()
    admin.get_by_role("button", name=re.compile("^Save")).click()
    admin.wait_for_load_state("load")
    assert progress(admin) == "4 of 8 steps done."

    # 3. Thirty staff and their supervisors, checked on the preview before anything is saved.
    mail.outbox.clear()
    admin.locator('#setup-checklist [data-step="staff"]').get_by_role("link").click()
    # The first file forgets Nina's role: the preview says she could not plan her team's sessions.
    admin.get_by_label("CSV file").set_input_files(
        files=[{"name": "staff.csv", "mimeType": "text/csv", "buffer": staff_file(nina_roles="").encode()}]
    )
    admin.get_by_role("button", name="Check the file").click()
    warning = admin.locator("#supervisors-without-role")
    assert warning.get_by_role("heading", name="1 supervisor without the supervisor role").is_visible()
    assert warning.get_by_text(f"Nina Shah, {NURSERY_MANAGER}").is_visible()
    admin.get_by_label("CSV file").set_input_files(
        files=[{"name": "staff.csv", "mimeType": "text/csv", "buffer": staff_file().encode()}]
    )
    admin.get_by_role("button", name="Check the file").click()
    admin.wait_for_load_state("load")
    assert admin.get_by_role("heading", name="Every row is valid").is_visible()
    assert admin.locator("#supervisors-without-role").count() == 0
    assert admin.get_by_text("30 new, 0 to update, 0 unchanged").is_visible()
    preview = admin.locator("#import-preview")
    amir = preview.get_by_role("row").filter(has_text=SUPERVISEE)
    assert amir.get_by_role("cell", name="Priya Patel").is_visible()  # a supervisor further down the file
    assert amir.get_by_role("cell", name="Mon Tue Wed Thu Fri").is_visible()
    assert amir.get_by_role("cell", name="Mon 1 Sep 2025").is_visible()
    assert not StaffMember.objects.filter(user__email=SUPERVISEE).exists()  # nothing saved yet
    assert admin.get_by_label("Email an invitation to each new person").is_checked()
    admin.get_by_role("button", name="Import 30 rows").click()
    admin.wait_for_load_state("load")
    assert admin.get_by_text("Import finished: 30 added, 0 updated, 0 unchanged.").is_visible()
    invited = [m.to[0] for m in mail.outbox if m.subject.startswith("You are invited")]
    assert len(invited) == len(set(invited)) == 30  # one each
    assert progress(admin) == "6 of 8 steps done."
    assert step_done(admin, "staff") and step_done(admin, "supervisors")
    checklist = admin.locator("#setup-checklist")
    assert checklist.get_by_text("30 members of staff so far.").is_visible()
    assert checklist.get_by_text("29 people have a supervisor; 1 without one.").is_visible()  # the head

    # 4. Agreements for everyone with a supervisor: the 29 below the head; all 30 are asked to sign.
    sent = len(mail.outbox)
    admin.locator('#setup-checklist [data-step="agreements"]').get_by_role("link").click()
    assert admin.locator("#agreements-count").inner_text() == "29"
    admin.get_by_role("button", name="Make 29 agreements and ask 30 people to sign").click()
    admin.get_by_text("Finished").wait_for()
    assert admin.locator("#run-created").inner_text() == "29"
    asked = {m.to[0] for m in mail.outbox[sent:] if m.subject == "A supervision agreement to read and sign"}
    assert {SUPERVISEE, KS1_LEAD} <= asked and HEAD in asked and len(asked) == 30
    assert Contract.objects.filter(organisation=organisation).count() == 29
    assert progress(admin) == "7 of 8 steps done."
    assert not step_done(admin, "first_half_term")

    # 5. Amir and Priya accept their invitations and sign their agreement, each in their own browser.
    agreement = Contract.objects.get(supervisee__user__email=SUPERVISEE)
    browsers = {}
    for email, password in ((SUPERVISEE, "amir-khan-password-1"), (KS1_LEAD, "priya-patel-password-1")):  # Priya last
        person = new_page()
        accept_invitation(person, email, password)
        assert person.get_by_role("heading", name=re.compile("Welcome")).count() <= 1
        other = "Priya Patel" if email == SUPERVISEE else "Amir Khan"
        waiting = person.get_by_role("link", name=f"Your supervision agreement with {other} – sign now")
        if email == KS1_LEAD:  # her own first, then her ten supervisees' by name: one more than shown
            assert person.get_by_role("link", name="the agreements page").is_visible()
        waiting.click()
        person.get_by_label("Your password").fill(password)
        person.get_by_label("I have read this and agree to it").check()
        person.get_by_role("button", name="Sign the agreement").click()
        person.wait_for_load_state("load")
        if email == KS1_LEAD:
            assert person.get_by_text("Signed. The agreement is now active.").is_visible()
        else:
            assert person.get_by_text("Signed. The agreement becomes active when the other person signs.").is_visible()
        browsers[email] = person
    agreement.refresh_from_db()
    assert agreement.is_signed
    planner = browsers[KS1_LEAD]

    # 6. Priya plans the first half term and books it.
    mail.outbox.clear()
    planner.goto("/")
    planner.get_by_role("link", name="Calendar", exact=True).click()
    planner.get_by_role("link", name="Plan a half term").click()
    planner.wait_for_load_state("load")
    assert planner.get_by_label("Date for Amir Khan").input_value()
    # Her nine other supervisees have not signed yet: the page says so rather than booking them.
    unplaced = planner.locator("section", has=planner.get_by_role("heading", name=re.compile("Could not be placed")))
    assert unplaced.get_by_role("listitem").count() == 9
    assert unplaced.get_by_role("listitem").filter(has_text="not signed by both yet").count() == 9
    planner.get_by_role("button", name="Check the ticked sessions").click()
    planner.wait_for_load_state("load")
    # Nothing is booked before she has seen what will be (issue 16): one session, two invitations.
    assert planner.get_by_text("1 session for 1 supervisor; 2 invitations will be sent.").is_visible()
    assert not Session.objects.filter(organisation=organisation).exists()
    planner.get_by_role("button", name="Book these sessions").click()
    planner.wait_for_load_state("load")
    assert planner.get_by_text("1 session booked; invitations are on their way.").is_visible()
    session = Session.objects.get(organisation=organisation)
    when = timezone.localtime(session.starts_at)
    label = f"{when:%a} {when.day} {when:%b %Y, %H:%M}"
    amir_row = planner.get_by_role("row").filter(has=planner.get_by_role("link", name="Amir Khan"))
    assert amir_row.get_by_role("cell", name=label).is_visible()  # her caseload: next booked
    # Amir finds it among his next sessions.
    browsers[SUPERVISEE].get_by_role("link", name="Calendar", exact=True).click()
    assert browsers[SUPERVISEE].get_by_role("link", name=label).is_visible()

    # 7. The checklist is done, so it goes.
    admin.goto("/")
    assert admin.locator("#setup-checklist").count() == 0

    # What is in the database at the end.
    assert set(Setting.objects.filter(organisation=organisation).values_list("name", "kind")) == {
        (PRIMARY, Setting.Kind.PRIMARY),
        (NURSERY, Setting.Kind.NURSERY),
    }
    nursery = Setting.objects.get(organisation=organisation, name=NURSERY)
    assert (nursery.day_starts.strftime("%H:%M"), nursery.day_ends.strftime("%H:%M")) == ("07:45", "17:45")
    staff = StaffMember.objects.filter(organisation=organisation)
    assert staff.count() == 31  # the 30 imported and the first admin
    priya = staff.get(user__email=KS1_LEAD)
    assert priya.supervisor.user.email == HEAD and priya.has_role(Role.SUPERVISOR)
    assert staff.get(user__email=SUPERVISEE).supervisor == priya
    assert staff.filter(supervisor=priya).count() == 10
    assert session.status == SessionStatus.SCHEDULED
    assert session.contract == agreement
    invited = sorted(address for m in mail.outbox if m.subject.startswith("Supervision booked") for address in m.to)
    assert invited == sorted([SUPERVISEE, KS1_LEAD])
