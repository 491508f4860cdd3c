/* Options page: the Rate next link, server URL, connected state, disconnect. The token stays in the service worker. */
"use strict";

const ext = globalThis.browser || globalThis.chrome;

const $ = (id) => document.getElementById(id);

function show(status) {
  if (!status) return;
  $("server").value = status.server;
  $("connect").href = `${status.server}/connect/`;
  $("rate-next").href = `${status.server}/rate-next/`;
  $("state").dataset.connected = String(status.connected);
  $("state").textContent = status.connected ? `Connected to ${status.server}.`
    : `Not connected. Votes need a connection; badges work without one.`;
  if (status.state && status.state !== "ok") {
    $("state").textContent += status.state === "rate_limited" ? " (rate-limited for now)" : " (server unreachable)";
  }
  $("disconnect").hidden = !status.connected;
}

$("server-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  let url;
  try {
    url = new URL($("server").value.trim());
  } catch (_) {
    $("message").textContent = "That is not a URL.";
    return;
  }
  // Host permissions name no port (Firefox never matches a pattern that has one).
  const hostOf = (u) => `${u.protocol}//${u.hostname}`;
  const host = hostOf(url);
  const manifestHosts = ["http://127.0.0.1", "http://localhost", self.MERIT_CONFIG.defaultServer].map((s) => hostOf(new URL(s)));
  if (!manifestHosts.includes(host) && ext.permissions) {
    // A user-set server needs its host permission (and `scripting` to pair on its /connect/ page).
    const granted = await ext.permissions.request({ origins: [`${host}/*`], permissions: ["scripting"] }).catch(() => false);
    if (!granted) {
      $("message").textContent = `Merit needs permission to reach ${url.origin}.`;
      return;
    }
  }
  const status = await ext.runtime.sendMessage({ type: "setServer", server: url.href });
  $("message").textContent = status && status.server ? "Saved." : "Could not save that server.";
  show(status);
});

$("disconnect").addEventListener("click", async () => {
  show(await ext.runtime.sendMessage({ type: "disconnect" }));
  $("message").textContent = "Disconnected. Revoke the token on the site if this device is lost.";
});

// ---------- Mastodon instances ----------

/** The origin an instance address names ("mastodon.social" -> "https://mastodon.social"), or null. */
function instanceOrigin(text) {
  const raw = String(text || "").trim();
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`);
    if (!/^https?:$/.test(url.protocol) || (!url.hostname.includes(".") && url.hostname !== "localhost")) return null;
    return `${url.protocol}//${url.hostname}`; // no port: see the server form above
  } catch (_) {
    return null;
  }
}

function showInstances(list) {
  const ul = $("instances");
  ul.replaceChildren();
  for (const origin of list || []) {
    const li = document.createElement("li");
    li.dataset.origin = origin;
    li.append(new URL(origin).hostname);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${new URL(origin).hostname}`);
    remove.addEventListener("click", async () => {
      const answer = await ext.runtime.sendMessage({ type: "removeInstance", origin });
      showInstances(answer && answer.instances);
      $("instance-message").textContent = `Merit no longer runs on ${new URL(origin).hostname}.`;
    });
    li.append(remove);
    ul.append(li);
  }
}

$("instance-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const origin = instanceOrigin($("instance").value);
  if (!origin) {
    $("instance-message").textContent = "That is not an instance address (e.g. mastodon.social).";
    return;
  }
  // Asked at once, inside the click: browsers grant optional permissions only during a user action.
  const granted = await ext.permissions.request({ origins: [`${origin}/*`], permissions: ["scripting"] }).catch(() => false);
  if (!granted) {
    $("instance-message").textContent = `Merit needs your permission to run on ${new URL(origin).hostname}.`;
    return;
  }
  const answer = await ext.runtime.sendMessage({ type: "addInstance", instance: origin });
  showInstances(answer && answer.instances);
  $("instance-message").textContent = answer && answer.ok
    ? `Merit now runs on ${new URL(origin).hostname}; reload its open tabs.` : "Could not add that instance.";
  if (answer && answer.ok) $("instance").value = "";
});

ext.runtime.sendMessage({ type: "instances" }).then((answer) => showInstances(answer && answer.instances), () => {});

ext.runtime.sendMessage({ type: "status" }).then(show, () => { $("state").textContent = "The extension's worker did not answer."; });
