"""The daily check of the audit trail: `audit_verify`'s walk of every organisation's chain, and whether the
database still refuses changes. When either fails, each organisation admin is told in the product and by
email (always emailed, like safeguarding escalations): once per break found, and daily while the
triggers are missing. The installation's own chain has no admins: its break is logged as an error.

Reads across apps: the chain lives in accounts; the notification ledger here.
"""

import hashlib
import logging
from datetime import date

from django.utils import timezone

from accounts.audit_chain import missing_triggers, verify_chain
from accounts.models import Organisation, Role, StaffMember

from .models import NotificationKind
from .notify import notify

logger = logging.getLogger(__name__)


def _fingerprint(problem) -> str:
    return hashlib.sha256(str(problem).encode()).hexdigest()[:32]


def check_audit_trail(today: date | None = None) -> list[str]:
    """Check every chain; notify the admins of each organisation whose trail fails. Returns the failures."""
    today = today or timezone.localdate()
    missing = missing_triggers()
    failures = []
    for organisation in Organisation.objects.order_by("id"):
        count, problem = verify_chain(organisation.id)
        if problem is None and not missing:
            continue
        lines = []
        if problem is not None:
            lines.append(f"The first broken link of the trail ({count} events checked): {problem}.")
        if missing:
            lines.append("The database no longer refuses changes to the audit trail (its protecting triggers are off).")
        failures.append(f"{organisation.name}: " + " ".join(lines))
        logger.error("Audit trail check failed for organisation %s: %s", organisation.code, " ".join(lines))
        period = f"break:{_fingerprint(problem)}" if problem is not None else f"triggers:{today.isoformat()}"
        body = "\n\n".join(
            [
                *lines,
                "Someone may have changed or removed audit events. Tell your data protection officer, keep the "
                "database backups from before the date of the broken event, and compare the chain head on the "
                "audit trail page with the one you last wrote down.",
            ]
        )
        admins = (
            StaffMember.objects.filter(organisation=organisation, role_assignments__role=Role.ORG_ADMIN)
            .current(today)
            .distinct()
            .select_related("user")
        )
        for admin in admins:
            notify(
                recipient=admin,
                kind=NotificationKind.AUDIT_CHAIN_BROKEN,
                object_type="organisation",
                object_code=organisation.code,
                period=period,
                title="The audit trail failed its daily check",
                body=body,
                url="/audit/",
            )
    count, problem = verify_chain(None)
    if problem is not None:
        failures.append(f"installation: {problem}")
        logger.error("Audit trail check failed for the installation's chain: %s", problem)
    return failures
