// Once django-otp-webauthn's script has added the passkey, go on to the page that confirms it.
document.addEventListener("otp_webauthn.register_complete", (event) => {
  const next = event.target.dataset.next;
  if (next) {
    window.location.assign(next);
  }
});
