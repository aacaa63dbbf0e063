// The GOV.UK error summary pattern (templates/includes/error_summary.html), without inline script.
document.addEventListener("DOMContentLoaded", () => {
  // A page shown again with errors: the summary takes focus, so a screen reader reads it first.
  const summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
    summary.addEventListener("click", (event) => {
      const link = event.target.closest("a[href^='#']");
      const field = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!field) return;
      event.preventDefault();
      // Bring the field's label into view with the field, then put the cursor in it.
      const label = document.querySelector(`label[for='${field.id}']`);
      (label || field).scrollIntoView({ block: "center" });
      field.focus({ preventScroll: true });
    });
  }
  // Enter on a tick box that must be ticked does not send its form unticked: the browser's own
  // message shows beside the box, and the focus stays on it.
  document.body.addEventListener("keydown", (event) => {
    const box = event.target;
    if (event.key !== "Enter" || !box.matches("input[type='checkbox'][required]") || box.checked) return;
    event.preventDefault();
    box.reportValidity();
  });
});
