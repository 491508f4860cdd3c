// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Close an open reason menu when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.vote-down-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.vote-down-menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });

  // The vote box is replaced after each vote, and the button that had the focus with it: put the focus back on
  // its counterpart in the new box (a reason picked: the "Poor post" toggle; a retraction: "Good post"), so a
  // keyboard user stays where they were instead of starting again from the top of the page.
  var refocus = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var box = event.target.closest && event.target.closest(".vote-box");
    var active = document.activeElement;
    refocus = null;
    if (!box || !active || !box.contains(active)) return;
    var control = active.closest(".reason-menu") ? "summary.vote-down"
      : active.classList.contains("vote-down") ? "summary.vote-down" : ".vote-up";
    refocus = {box: box.id, control: control};
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!refocus) return;
    var box = document.getElementById(refocus.box);
    var control = box && box.querySelector(refocus.control);
    refocus = null;
    if (control && (document.activeElement === document.body || !document.activeElement)) control.focus();
  });

  // 4xx answers carry their own message and are swapped in; only say something for the rest.
  function toast(text) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 6000);
  }
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.xhr && event.detail.xhr.status >= 500) {
      toast("Something went wrong on our side. Your last action may not have been saved; please try again.");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    toast("Can’t reach Merit right now. Check your connection and try again.");
  });

  // /connect/: the extension's content script sets data-connected="true" once it has the token.
  var connect = document.getElementById("merit-connect");
  if (connect) {
    var showConnected = function () {
      if (connect.dataset.connected !== "true") return false;
      document.querySelector(".connect-done").hidden = false;
      document.querySelector(".connect-waiting").hidden = true;
      return true;
    };
    if (!showConnected()) {
      new MutationObserver(function (_, observer) { if (showConnected()) observer.disconnect(); })
        .observe(connect, {attributes: true, attributeFilter: ["data-connected"]});
    }
  }
})();
