"""What an audit event says on screen: one sentence per action, for the audit trail and the home page's
"Recent activity" ("Sarah Collins signed the record of Amy Hughes, Tue 10 Nov 2026 at 14:02"), rather
than the action's code (`record.signed`) and an ISO date.

`tests/accounts/test_audit_words.py` reads every action name the code writes and fails on one without a
sentence here.
"""

from django.utils import timezone
from django.utils.formats import date_format

from .forms_audit import action_label

# {actor}: who did it ("Someone" when nobody is recorded, e.g. a failed sign-in); {object}: what it was
# about, as the event recorded it at the time. A sentence without {actor} is the product's own doing.
ACTION_SENTENCES = {
    "action.done": "{actor} marked the action {object} as done",
    "audit.exported": "{actor} downloaded the audit trail",
    "audit.viewed": "{actor} viewed the audit trail",
    "auditor_grant.approved": "{actor} approved {object}",
    "auditor_grant.created": "{actor} asked for {object}",
    "auditor_grant.revoked": "{actor} revoked {object}",
    "auth.code_failed": "{actor} entered a wrong sign-in code",
    "auth.invitation_accepted": "{actor} accepted their invitation and chose a password",
    "auth.passkey_add_failed": "{actor} tried to add a passkey, which failed",
    "auth.passkey_added": "{actor} added a passkey",
    "auth.passkey_failed": "{actor} used a passkey that was refused",
    "auth.passkey_reconfirmed": "{actor} confirmed with their passkey",
    "auth.passkey_removed": "{actor} removed a passkey",
    "auth.passkey_used": "{actor} signed in with a passkey",
    "auth.password_changed": "{actor} changed their password",
    "auth.password_reconfirm_failed": "{actor} entered a wrong password to confirm",
    "auth.password_reset": "{actor} reset their password",
    "auth.provider_sign_in_refused": "A sign-in with Microsoft or Google was refused for {actor}",
    "auth.recovery_codes_renewed": "{actor} made new recovery codes",
    "auth.second_factor_enrolled": "{actor} set up an authenticator app",
    "auth.second_factor_reset": "{actor} reset the second factor of {object}",
    "auth.second_factor_setup_started": "{actor} started setting up an authenticator app",
    "auth.signed_in": "{actor} signed in",
    "auth.signed_out": "{actor} signed out",
    "auth.signed_out_leaver": "{actor} was signed out after their leaving date",
    "auth.signed_out_unverified": "{actor} was signed out before finishing the second step of signing in",
    "calendar.closure_added": "{actor} added the closure day {object}",
    "calendar.closure_deleted": "{actor} removed the closure day {object}",
    "calendar.feed_renewed": "{actor} made a new link for their calendar feed",
    "calendar.feed_revoked": "{actor} turned off their calendar feed",
    "calendar.half_term_changed": "{actor} changed the dates of {object}",
    "calendar.imported": "{actor} imported term dates",
    "calendar.year_generated": "The school year's terms were added to the calendar",
    "contract.bulk_run": "{actor} made agreements for everyone with a supervisor",
    "contract.created": "{actor} made the agreement {object}",
    "contract.ended": "{actor} ended the agreement {object}",
    "contract.override_added": "{actor} raised the frequency of the agreement {object}",
    "contract.signed": "{actor} signed the agreement {object}",
    "contract.template_changed": "{actor} changed the organisation's agreement wording",
    "contract.updated": "{actor} changed the agreement {object}",
    "demo.seeded": "The demo organisation was created",
    "export.completed": "{object} was ready to download",
    "export.compliance_csv": "{actor} downloaded the compliance figures",
    "export.downloaded": "{actor} downloaded {object}",
    "export.file_deleted": "The file of {object} was deleted when it expired",
    "export.requested": "{actor} asked for {object}",
    "export.queued_again": "{object} had stopped and was queued again",
    "group.created": "{actor} made the supervision group {object}",
    "note.recorded": "{actor} recorded {object}",
    "notifications.preferences_changed": "{actor} changed their email preferences",
    "organisation.created": "{actor} created the organisation {object}",
    "organisation.identity_providers_changed": "{actor} changed the Microsoft 365 and Google sign-in settings",
    "organisation.second_factor_rule_changed": "{actor} changed who must use a second factor",
    "organisation.settings_changed": "{actor} changed the organisation's settings",
    "organisation.signing_certificate_uploaded": "{actor} uploaded the organisation's signing certificate",
    "planner.confirmed": "{actor} booked the sessions of a half term's plan",
    "record.action_added": "{actor} added an action to {object}",
    "record.addendum_added": "{actor} added an addendum to {object}",
    "record.addendum_signed": "{actor} signed an addendum to {object}",
    "record.commented": "{actor} commented on {object}",
    "record.decision_added": "{actor} recorded a safeguarding decision in {object}",
    "record.decision_confirmed": "{actor} confirmed a safeguarding decision of {object} is on the child's file",
    "record.disagreed": "{actor} recorded a disagreement with {object}",
    "record.flag_notified": "A head or DSL was emailed about a confidentiality flag on {object}",
    "record.decision_notified": "The key person was emailed about a safeguarding decision in {object}",
    "record.decision_reminded": "{actor} reminded the key person to confirm a safeguarding decision of {object}",
    "record.flag_raised": "{actor} raised a confidentiality flag on {object}",
    "record.flag_resolved": "{actor} resolved a confidentiality flag on {object}",
    "record.pdf_downloaded": "{actor} downloaded the PDF of {object}",
    "record.pdf_stored": "PDF stored for {object}",
    "record.pdf_queued_again": "The PDF of {object} was late and was queued again",
    "record.feedback_saved": "{actor} saved their feedback on {object}",
    "record.previous_action_reviewed": "{actor} reviewed an earlier action in {object}",
    "record.reasoned_access": "{actor} gave a reason and read the notes of {object}",
    "record.reopened": "{actor} reopened {object} for changes",
    "record.signatures_voided": "The signatures on {object} were cleared when it changed",
    "record.signed": "{actor} signed {object}",
    "record.started": "{actor} started {object}",
    "record.submitted": "{actor} sent {object} for signing",
    "record.verified": "{actor} checked the signature of a record's PDF",
    "record.viewed": "{actor} viewed {object}",
    "record.viewed_by_auditor": "{actor} viewed {object} as an auditor",
    "retention.listed": "{object} was listed for deletion at the end of its retention period",
    "retention.notes_deleted": "The notes of {object} were deleted at the end of their retention period",
    "retention.record_deleted": "{object} was deleted at the end of its retention period",
    "session.agenda_added": "{actor} added an agenda item to {object}",
    "session.agenda_removed": "{actor} removed an agenda item from {object}",
    "session.booked": "{actor} booked {object}",
    "session.cancelled": "{actor} cancelled {object}",
    "session.held": "{actor} marked {object} as held",
    "session.missed": "{actor} marked {object} as missed",
    "session.rescheduled": "{actor} moved {object}",
    "setting.changed": "{actor} changed the setting {object}",
    "setting.closed": "{actor} closed the setting {object}",
    "setting.created": "{actor} added the setting {object}",
    "setting.reopened": "{actor} reopened the setting {object}",
    "setup.checked": "{actor} checked the organisation's setup",
    "staff.created": "{actor} added {object}",
    "staff.email_change_approved": "{actor} approved a new sign-in address for {object}",
    "staff.email_change_cancelled": "{actor} cancelled a new sign-in address for {object}",
    "staff.email_change_confirmed": "{actor} confirmed their new sign-in address",
    "staff.email_change_refused": "{actor} refused a new sign-in address",
    "staff.email_change_requested": "{actor} asked to change the sign-in address of {object}",
    "staff.email_changed": "The sign-in address of {object} changed",
    "staff.imported": "{actor} imported {object} from a CSV file",
    "staff.import_queued": "{actor} started a staff import in the background",
    "staff.import_failed": "A background staff import stopped with an error",
    "staff.import_retried": "{actor} ran a stopped staff import again",
    "staff.invited": "{actor} sent an invitation to {object}",
    "staff.leaver_marked": "{actor} set a leaving date for {object}",
    "staff.legal_hold_released": "{actor} released the legal hold on {object}",
    "staff.legal_hold_set": "{actor} put a legal hold on {object}",
    "staff.roles_changed": "{actor} changed the roles of {object}",
    "staff.updated": "{actor} changed the details of {object}",
    "template.created": "{actor} made the record form {object}",
    "template.default_set": "{actor} chose the default record form {object}",
    "template.versioned": "{actor} saved a new version of the record form {object}",
}

# Object names that start with a common noun read as "the record of ...", not "Record of ...".
_COMMON_NOUNS = ("Record of ", "Decision about ", "Addendum to ", "Audit grant ", "Informal note ", "Calendar feed ")


def _object_words(object_repr: str) -> str:
    if not object_repr:
        return "something since removed"
    if object_repr.startswith(_COMMON_NOUNS):
        return "the " + object_repr[0].lower() + object_repr[1:]
    return object_repr


def event_sentence(event, *, with_time: bool = True) -> str:
    """The event as a sentence; unknown actions (none today: the test checks) fall back to their label."""
    template = ACTION_SENTENCES.get(event.action)
    if template is None:
        template = f"{action_label(event.action)}: {{object}}" if event.object_repr else action_label(event.action)
    sentence = template.format(actor=event.actor_name or "Someone", object=_object_words(event.object_repr))
    sentence = sentence[0].upper() + sentence[1:]
    if not with_time:
        return sentence
    when = timezone.localtime(event.created_at)
    return f"{sentence}, {date_format(when, 'D j M Y')} at {when:%H:%M}"
