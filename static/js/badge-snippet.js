/* The author page's badge snippet: Copy buttons (shown only where the clipboard can be written). */
(function () {
  "use strict";
  const status = document.querySelector("[data-copy-status]");
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field || !navigator.clipboard) continue;
    button.hidden = false;
    button.setAttribute("aria-label", `Copy the ${field.labels[0] ? field.labels[0].textContent : ""} snippet`);
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(field.value);
        if (status) status.textContent = "Copied.";
      } catch (_) {
        field.select(); // the clipboard refused: leave it selected for Ctrl+C
        if (status) status.textContent = "Select the text and copy it.";
      }
    });
  }
  for (const field of document.querySelectorAll(".badge-snippet input[readonly]")) {
    field.addEventListener("focus", () => field.select());
  }
})();
