// django-otp-webauthn's scripts call gettext() for what they show; its words here, in our British English,
// without loading Django's JavaScript catalogue. Loaded before the library's script (docs/decisions.md).
(() => {
  const words = {
    "Verify with Passkey": "Use your passkey",
    "Verifying...": "Waiting for your passkey…",
    "Finishing verification...": "Checking…",
    "Verification successful!": "Confirmed.",
    "Verification aborted.": "Stopped: try again when you are ready.",
    "Verification canceled or not allowed.": "Cancelled, or this passkey is not one of yours here. Try again.",
    "Register a Passkey": "Make the passkey",
    "Registering...": "Waiting for your device…",
    "Finishing registration...": "Checking…",
    "Registration successful!": "Added.",
    "Registration aborted.": "Stopped: try again when you are ready.",
    "Registration aborted or not allowed.": "Cancelled, or not allowed by your device. Try again.",
    "Verification failed. An unknown server error occurred.":
      "Not accepted. After several tries the account locks: start again from the sign-in page.",
    "Verification failed. Could not retrieve parameters from the server.":
      "Could not start: your sign-in may have lapsed. Start again from the sign-in page.",
    "Registration failed. The server was unable to verify this passkey.":
      "This passkey could not be added. Try again, or start again from the security page.",
    "Registration failed. Unable to fetch registration options from server.":
      "Could not start: go back to the security page and name the passkey again.",
    "Registration failed. You most likely already have a Passkey registered for this site.":
      "This device already holds a passkey for Supervision: it is on your list.",
  };
  window.gettext = (text) => words[text] || text;
})();
