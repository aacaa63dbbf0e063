// Small behaviours for the whole product. No inline scripts anywhere: the Content Security Policy forbids them.
document.addEventListener("DOMContentLoaded", () => {
  // An error summary (a refused form) takes focus, so a screen reader reads it and the page scrolls to it.
  const summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }
  // Buttons with data-confirm ask before they submit.
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });
});
