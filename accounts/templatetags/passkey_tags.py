"""`{% passkey_step_up %}`: on a page where a person signs, the button that re-confirms them with a passkey
first (for people with a passkey; nothing for anyone else). One query."""

from django import template

from accounts.passkeys import has_passkey, passkey_config
from accounts.reauth import STEP_UP_SECONDS, step_up_pending

register = template.Library()


@register.inclusion_tag("accounts/includes/passkey_step_up.html", takes_context=True)
def passkey_step_up(context, purpose="to sign"):
    request = context["request"]
    if not request.user.is_authenticated or not has_passkey(request.user):
        return {"show": False}
    return {
        "show": True,
        "purpose": purpose,
        "confirmed": step_up_pending(request),
        "minutes": STEP_UP_SECONDS // 60,
        "next": request.get_full_path(),
        "config": passkey_config(
            request, begin="accounts:passkey-confirm-begin", complete="accounts:passkey-confirm-complete"
        ),
    }
