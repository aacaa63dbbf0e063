"""Response headers every page gets: no caching of anything a signed-in person sees, and a
Permissions-Policy that switches off the browser features the product never uses."""

from django.conf import settings

# Everything off except what passkeys need (WebAuthn in our own pages). Only features browsers know:
# an unknown name is reported in the browser's console.
PERMISSIONS_POLICY = ", ".join(
    [
        "accelerometer=()",
        "autoplay=()",
        "bluetooth=()",
        "camera=()",
        "display-capture=()",
        "encrypted-media=()",
        "geolocation=()",
        "gyroscope=()",
        "hid=()",
        "idle-detection=()",
        "magnetometer=()",
        "microphone=()",
        "midi=()",
        "payment=()",
        "picture-in-picture=()",
        "publickey-credentials-create=(self)",
        "publickey-credentials-get=(self)",
        "screen-wake-lock=()",
        "serial=()",
        "usb=()",
        "xr-spatial-tracking=()",
    ]
)

NO_STORE = "no-store, private"


def signed_in(request) -> bool:
    """A person is signed in now, or came with a session (a leaver signed out on this very request, or
    someone signing out): their response is theirs alone."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    return settings.SESSION_COOKIE_NAME in request.COOKIES


class ResponseHeadersMiddleware:
    """`Cache-Control: no-store, private` on every response to a signed-in person (pages, the audit
    trail, CSV and PDF downloads), replacing whatever a view set, so no browser, proxy or shared
    computer keeps a copy; `Permissions-Policy` on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if signed_in(request):
            response["Cache-Control"] = NO_STORE
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
