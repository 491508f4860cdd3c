/*
 * Runs on the Merit site's /connect/ page. After the user clicks "Connect this browser" the
 * page holds <div id="merit-connect" data-token=… data-api-base=…>. This hands both to the
 * service worker, removes the token from the DOM at once, and marks the element connected.
 */
(function () {
  "use strict";
  const ext = globalThis.browser || globalThis.chrome;
  document.documentElement.setAttribute("data-merit-extension", "installed");

  function take() {
    const box = document.querySelector("#merit-connect[data-token]");
    if (!box) return false;
    const token = box.getAttribute("data-token");
    const apiBase = new URL(box.getAttribute("data-api-base") || "/api/v1/", location.href).href;
    box.removeAttribute("data-token");
    if (!token) return false;
    Promise.resolve(ext.runtime.sendMessage({ type: "pair", token, apiBase }))
      .then((answer) => box.setAttribute("data-connected", answer && answer.ok ? "true" : "false"))
      .catch(() => box.setAttribute("data-connected", "false"));
    return true;
  }

  if (!take()) {
    // The token may arrive later (e.g. a form posted with htmx).
    const observer = new MutationObserver(() => { if (take()) observer.disconnect(); });
    observer.observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-token"] });
  }
})();
