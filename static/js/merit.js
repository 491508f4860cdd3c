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

  // /connect/: the extension's content script marks the page (data-merit-extension) and sets
  // data-connected="true" (or "false") on #merit-connect once it has taken the token. Say which
  // happened, and say so too when nothing answered: silence would look like success.
  var detect = document.querySelector(".extension-detect");
  if (detect) {
    var showDetected = function () {
      var found = document.documentElement.getAttribute("data-merit-extension") === "installed";
      detect.textContent = found ? detect.dataset.found : detect.dataset.missing;
      detect.hidden = false;
    };
    setTimeout(showDetected, 800); // content scripts run at document_idle: give them a moment
  }
  var connect = document.getElementById("merit-connect");
  if (connect) {
    var waiting = document.querySelector(".connect-waiting");
    var show = function (selector) {
      waiting.hidden = true;
      document.querySelector(selector).hidden = false;
    };
    var settled = function () {
      var state = connect.dataset.connected;
      if (state === "true") show(".connect-done");
      else if (state === "false") show(".connect-failed");
      return Boolean(state);
    };
    if (!settled()) {
      var observer = new MutationObserver(function () { if (settled()) observer.disconnect(); });
      observer.observe(connect, {attributes: true, attributeFilter: ["data-connected"]});
      setTimeout(function () {
        if (connect.dataset.connected) return;
        observer.disconnect();
        show(".connect-timeout");
      }, Number(waiting.dataset.timeoutMs) || 6000);
    }
  }
})();
