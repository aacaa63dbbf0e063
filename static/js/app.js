// Small behaviours for the whole product. No inline scripts anywhere: the Content Security Policy forbids them.
document.addEventListener("DOMContentLoaded", () => {
  // An error summary (a refused form) takes focus, so a screen reader reads it and the page scrolls to it.
  const summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }
  // A suggested free time fills the booking form's date and time (supervision/includes/free_times.html)
  // and takes the person to the button that books it. Without this, the button's own form reloads the page
  // with them filled in.
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("[data-fill-date]");
    const date = document.getElementById("id_date");
    const time = document.getElementById("id_time");
    if (!button || !date || !time) {
      return;
    }
    event.preventDefault();
    date.value = button.dataset.fillDate;
    time.value = button.dataset.fillTime;
    document.querySelectorAll("[data-fill-date]").forEach((other) => {
      other.setAttribute("aria-pressed", other === button ? "true" : "false");
    });
    const submit = date.form && date.form.querySelector("[type=submit]");
    if (submit) {
      submit.focus();
    }
  });
  // Enter in a person search (templates/includes/person_picker.html) searches at once instead of sending
  // the form the search sits in, half filled.
  document.body.addEventListener("keydown", (event) => {
    const search = event.target.closest && event.target.closest("[data-person-search]");
    if (search && event.key === "Enter") {
      event.preventDefault();
      search.dispatchEvent(new Event("search"));
    }
  });
  // Buttons with data-confirm ask before they submit.
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });
});
