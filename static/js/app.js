// Small behaviours for the whole product. No inline scripts anywhere: the Content Security Policy forbids them.
document.addEventListener("DOMContentLoaded", () => {
  // Buttons with data-confirm ask before they submit.
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });
});
