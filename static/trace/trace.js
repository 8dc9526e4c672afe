// The entry page's "Show all frames" button (templates/admin/resilience/errorlogentry/
// exceptions.html): opens every folded group of library frames, or folds them again.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("fl-show-all-frames");
  if (!button) return;
  const showLabel = button.textContent;
  button.addEventListener("click", () => {
    const groups = document.querySelectorAll("#fl-trace details.fl-library");
    const open = !Array.from(groups).every((group) => group.open);
    groups.forEach((group) => { group.open = open; });
    button.textContent = open ? button.dataset.collapseLabel : showLabel;
  });
});
