/*
 * Merit service worker (an event page in Firefox): every network call goes through here.
 *
 * - Batches handle lookups from all tabs into GET /api/v1/authors (<=100 per call, one
 *   platform per call), de-duplicates in-flight handles and caches answers for TTL_MS.
 * - Registers the content script on the Mastodon instances the user granted (options page).
 * - Holds the API token (ext.storage.local, read only here); content scripts only
 *   ever receive booleans such as `connected`.
 * - On 429 or an unreachable server it stops calling until Retry-After (or a short
 *   back-off) has passed and reports the state so pages show a quiet indicator.
 *
 * Workers are killed when idle: listeners are registered synchronously at top level and
 * anything that must outlive the worker is kept in ext.storage, memory is only a cache.
 */
"use strict";

// Firefox's promise-based `browser` where it exists, Chromium's `chrome` otherwise.
const ext = globalThis.browser || globalThis.chrome;

if (typeof self.MERIT_CONFIG === "undefined" && typeof importScripts === "function") {
  importScripts("config.js"); // Chromium service worker; Firefox lists config.js in background.scripts
}

const TTL_MS = 60_000;
const BATCH_SIZE = 100;
const FLUSH_DELAY_MS = 25;
const OFFLINE_BACKOFF_MS = 10_000;
const REQUEST_TIMEOUT_MS = 8_000;
const PLATFORMS = ["x", "bluesky", "mastodon"];
const DEFAULT_PLATFORM = "x";
// Post ids as the server's grammar has them (Mastodon: this instance's host and status id).
const POST_ID_RE = {
  x: /^\d{1,25}$/,
  bluesky: /^[a-z0-9]{5,32}$/,
  mastodon: /^[a-z0-9](?:[a-z0-9.-]{0,198}[a-z0-9])?:\d{1,20}$/,
};
const INSTANCE_SCRIPT_ID = "merit-mastodon";
// The toolbar button opens the options page, whose first link is the site's Rate next queue.
const ACTION_TITLE = "Merit: Rate next and options";

// Keys are "platform:handle" (the platform has no colon; a Bluesky DID after it may).
const memCache = new Map(); // key -> {v, t}
const inflight = new Map(); // key -> Promise<author|null>
let pending = new Map(); // key -> {resolve, reject}, waiting for the next flush
let flushTimer = null;
const sessionArea = ext.storage.session || null; // storage.session: Chrome 102+, Firefox 115+

class ApiError extends Error {
  constructor(reason, status = 0, detail = "") {
    super(detail || reason);
    this.reason = reason; // offline | rate_limited | unauthorized | rejected
    this.status = status;
    this.detail = detail;
  }
}

// ---------- settings and state ----------

async function settings() {
  const s = await ext.storage.local.get(["server", "token"]);
  const server = (s.server || self.MERIT_CONFIG.defaultServer).replace(/\/+$/, "");
  return { server, apiBase: `${server}/api/v1/`, token: s.token || null };
}

async function blockedState() {
  const area = sessionArea || ext.storage.local;
  const { blocked } = await area.get("blocked");
  return blocked && blocked.until > Date.now() ? blocked : null;
}

async function setBlocked(reason, ms) {
  const area = sessionArea || ext.storage.local;
  await area.set({ blocked: { reason, until: Date.now() + ms } });
  await setActionBadge(reason);
}

async function clearBlocked() {
  const area = sessionArea || ext.storage.local;
  await area.remove("blocked");
  await setActionBadge(null);
}

async function setActionBadge(reason) {
  if (!ext.action) return;
  try {
    await ext.action.setBadgeText({ text: reason ? "!" : "" });
    await ext.action.setBadgeBackgroundColor({ color: "#8a8a8a" });
    await ext.action.setTitle({
      title: reason === "rate_limited" ? "Merit: rate-limited, retrying later"
        : reason === "offline" ? "Merit: server unreachable" : ACTION_TITLE,
    });
  } catch (_) { /* the badge is cosmetic */ }
}

function retryAfterMs(response) {
  const raw = response.headers.get("Retry-After");
  if (!raw) return 60_000;
  const secs = Number(raw);
  if (Number.isFinite(secs)) return Math.max(1, secs) * 1000;
  const at = Date.parse(raw);
  return Number.isFinite(at) ? Math.max(1000, at - Date.now()) : 60_000;
}

// ---------- HTTP ----------

async function api(path, { method = "GET", body, auth = false } = {}) {
  const blocked = await blockedState();
  if (blocked) throw new ApiError(blocked.reason);
  const { apiBase, token } = await settings();
  const headers = { Accept: "application/json" };
  if (auth) {
    if (!token) throw new ApiError("unauthorized", 401, "Not connected");
    headers.Authorization = `Token ${token}`;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(apiBase + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctrl.signal, credentials: "omit", cache: "no-store",
    });
  } catch (_) {
    await setBlocked("offline", OFFLINE_BACKOFF_MS);
    throw new ApiError("offline");
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 429) {
    await setBlocked("rate_limited", retryAfterMs(response));
    throw new ApiError("rate_limited", 429);
  }
  if (response.status >= 500) {
    await setBlocked("offline", OFFLINE_BACKOFF_MS);
    throw new ApiError("offline", response.status);
  }
  if (response.status === 401 && auth) {
    await ext.storage.local.remove("token"); // revoked on the site
    throw new ApiError("unauthorized", 401, "This browser was disconnected; connect it again.");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const detail = (data && (data.detail || data.title)) || `HTTP ${response.status}`;
    throw new ApiError("rejected", response.status, detail);
  }
  if (await blockedState() === null) await setActionBadge(null);
  return { status: response.status, data };
}

// ---------- author lookups: cache, de-duplication, batching ----------

function platformOf(value) {
  return PLATFORMS.includes(value) ? value : value == null ? DEFAULT_PLATFORM : null;
}

const keyOf = (platform, handle) => `${platform}:${handle}`;

async function readCache(keys) {
  const now = Date.now();
  const found = {};
  const missing = [];
  let stored = {};
  if (sessionArea && keys.some((k) => !memCache.has(k))) {
    stored = (await sessionArea.get("authors")).authors || {};
  }
  for (const k of keys) {
    const hit = memCache.get(k) || stored[k];
    if (hit && now - hit.t < TTL_MS) {
      memCache.set(k, hit);
      found[k] = hit.v;
    } else {
      missing.push(k);
    }
  }
  return { found, missing };
}

async function writeCache(results) {
  const now = Date.now();
  for (const [k, v] of Object.entries(results)) memCache.set(k, { v, t: now });
  if (!sessionArea) return;
  const stored = (await sessionArea.get("authors")).authors || {};
  for (const [k, e] of Object.entries(stored)) if (now - e.t >= TTL_MS) delete stored[k];
  for (const [k, v] of Object.entries(results)) stored[k] = { v, t: now };
  await sessionArea.set({ authors: stored });
}

async function forget(key) {
  memCache.delete(key);
  if (!sessionArea) return;
  const stored = (await sessionArea.get("authors")).authors || {};
  delete stored[key];
  await sessionArea.set({ authors: stored });
}

function scheduleFlush() {
  if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_DELAY_MS);
}

async function flush() {
  flushTimer = null;
  const batch = pending;
  pending = new Map();
  const byPlatform = new Map();
  for (const key of batch.keys()) {
    const cut = key.indexOf(":");
    const platform = key.slice(0, cut);
    if (!byPlatform.has(platform)) byPlatform.set(platform, []);
    byPlatform.get(platform).push(key.slice(cut + 1));
  }
  for (const [platform, handles] of byPlatform) {
    for (let i = 0; i < handles.length; i += BATCH_SIZE) {
      const chunk = handles.slice(i, i + BATCH_SIZE);
      try {
        const q = new URLSearchParams({ platform, handles: chunk.join(",") });
        const { data } = await api(`authors?${q}`);
        const results = {};
        for (const h of chunk) results[keyOf(platform, h)] = (data && data.results && data.results[h]) || null;
        await writeCache(results);
        for (const h of chunk) batch.get(keyOf(platform, h)).resolve(results[keyOf(platform, h)]);
      } catch (err) {
        for (const h of chunk) batch.get(keyOf(platform, h)).reject(err);
      }
    }
  }
}

function fetchAuthor(key) {
  if (inflight.has(key)) return inflight.get(key);
  const promise = new Promise((resolve, reject) => {
    pending.set(key, { resolve, reject });
    scheduleFlush();
  }).finally(() => inflight.delete(key));
  inflight.set(key, promise);
  return promise;
}

async function lookup(rawPlatform, rawHandles) {
  const platform = platformOf(rawPlatform);
  if (!platform) return { ok: false, reason: "rejected" };
  const handles = Array.from(new Set((rawHandles || []).map((h) => String(h).toLowerCase()))).slice(0, 500);
  const blocked = await blockedState();
  if (blocked) return { ok: false, reason: blocked.reason };
  const { found, missing } = await readCache(handles.map((h) => keyOf(platform, h)));
  const settled = await Promise.allSettled(missing.map(fetchAuthor));
  const failure = settled.find((s) => s.status === "rejected");
  if (failure) return { ok: false, reason: failure.reason.reason || "offline" };
  missing.forEach((k, i) => { found[k] = settled[i].value; });
  const results = {};
  for (const h of handles) results[h] = found[keyOf(platform, h)];
  return { ok: true, results };
}

// ---------- votes ----------

async function myVotes(rawPlatform, postIds) {
  const platform = platformOf(rawPlatform);
  if (!platform) return { ok: false, reason: "rejected" };
  const { token } = await settings();
  if (!token) return { ok: true, connected: false, votes: {} };
  const ids = Array.from(new Set(postIds || [])).slice(0, 100);
  if (!ids.length) return { ok: true, connected: true, votes: {} };
  const votes = {};
  let path = `votes?${new URLSearchParams({ platform, post_ids: ids.join(",") })}`;
  for (let page = 0; path && page < 5; page++) {
    const { data } = await api(path, { auth: true });
    for (const v of (data && data.results) || []) votes[v.post_id] = v.value;
    // `next` is absolute; keep only the part under the API base.
    path = data && data.next ? data.next.slice(data.next.indexOf("/api/v1/") + "/api/v1/".length) : null;
  }
  return { ok: true, connected: true, votes };
}

const VOTE_TEXT_MAX = 1000; // the server refuses more (400); it shows the text only until it fetches the post

async function vote(rawPlatform, postId, handle, value, text) {
  const platform = platformOf(rawPlatform);
  if (!platform || !POST_ID_RE[platform].test(String(postId)) || ![1, -1, 0].includes(value)) {
    return { ok: false, reason: "rejected", detail: "Invalid vote" };
  }
  try {
    if (value === 0) {
      await api(`votes/${platform}/${encodeURIComponent(postId)}`, { method: "DELETE", auth: true }).catch((err) => {
        if (err.status !== 404) throw err; // already gone counts as retracted
      });
    } else {
      const body = { platform, post_id: String(postId), author: handle, value };
      // The post's visible text: Merit shows it, marked unconfirmed, until its own fetch from the platform succeeds.
      const seen = typeof text === "string" ? Array.from(text.trim()).slice(0, VOTE_TEXT_MAX).join("") : "";
      if (seen) body.text = seen;
      await api("votes", { method: "POST", auth: true, body });
    }
    await forget(keyOf(platform, String(handle).toLowerCase())); // the next lookup shows the refreshed reputation
    return { ok: true, value };
  } catch (err) {
    return { ok: false, reason: err.reason || "offline", detail: err.detail || "" };
  }
}

// ---------- pairing and options ----------

async function pair(token, apiBase, senderUrl) {
  let base;
  try {
    base = new URL(apiBase);
  } catch (_) {
    return { ok: false };
  }
  // The token is only accepted from the page of the server that minted it.
  if (!senderUrl || new URL(senderUrl).origin !== base.origin || typeof token !== "string" || !token) {
    return { ok: false };
  }
  const server = base.href.replace(/\/api\/v1\/?$/, "").replace(/\/+$/, "");
  await ext.storage.local.set({ token, server });
  memCache.clear();
  await clearBlocked();
  return { ok: true };
}

async function status() {
  const { server, token } = await settings();
  const blocked = await blockedState();
  return { connected: Boolean(token), server, state: blocked ? blocked.reason : "ok" };
}

async function setServer(server) {
  const url = new URL(server);
  if (!/^https?:$/.test(url.protocol)) throw new Error("http or https only");
  const clean = url.href.replace(/\/+$/, "");
  const { server: old } = await settings();
  if (clean !== old) await ext.storage.local.remove("token"); // a token belongs to one server
  await ext.storage.local.set({ server: clean });
  memCache.clear();
  if (sessionArea) await sessionArea.remove("authors");
  await clearBlocked();
  await registerPairingScript(url);
  return status();
}

/**
 * Pairing on a user-set server needs its host and `scripting`, both optional permissions.
 * Match patterns name no port: Firefox never matches a pattern that has one, Chromium
 * matches every port when none is given.
 */
async function registerPairingScript(url) {
  if (!ext.scripting || !ext.scripting.registerContentScripts) return;
  const host = `${url.protocol}//${url.hostname}`;
  const pattern = `${host}/connect/*`;
  const granted = await ext.permissions.contains({ origins: [`${host}/*`] }).catch(() => false);
  await ext.scripting.unregisterContentScripts({ ids: ["merit-pair-custom"] }).catch(() => {});
  if (!granted) return;
  await ext.scripting.registerContentScripts([
    { id: "merit-pair-custom", matches: [pattern], js: ["src/pair.js"], runAt: "document_idle" },
  ]).catch(() => {});
}

// ---------- Mastodon instances the user granted ----------

/** "https://mastodon.social" from "mastodon.social", "https://mastodon.social/@a" or "http://127.0.0.1:3000". */
function instanceOrigin(text) {
  const raw = String(text || "").trim();
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`);
  if (!/^https?:$/.test(url.protocol) || !url.hostname.includes(".") && url.hostname !== "localhost") {
    throw new Error("not an instance address");
  }
  return `${url.protocol}//${url.hostname}`; // match patterns name no port (see registerPairingScript)
}

async function instances() {
  return (await ext.storage.local.get("instances")).instances || [];
}

/**
 * One registered content script for every granted instance (mastodon.js before the shared
 * content script). Called after each change and when the browser starts, so a permission
 * withdrawn in the browser's own settings drops its instance here too.
 */
async function registerInstanceScripts() {
  if (!ext.scripting || !ext.scripting.registerContentScripts) return [];
  const granted = [];
  for (const origin of await instances()) {
    if (await ext.permissions.contains({ origins: [`${origin}/*`] }).catch(() => false)) granted.push(origin);
  }
  await ext.scripting.unregisterContentScripts({ ids: [INSTANCE_SCRIPT_ID] }).catch(() => {});
  if (granted.length) {
    await ext.scripting.registerContentScripts([{
      id: INSTANCE_SCRIPT_ID, matches: granted.map((o) => `${o}/*`), runAt: "document_idle",
      js: ["src/mastodon.js", "src/format.js", "src/content.js"], css: ["src/content.css"],
    }]);
  }
  return granted;
}

async function addInstance(text) {
  const origin = instanceOrigin(text);
  const list = await instances();
  if (!list.includes(origin)) await ext.storage.local.set({ instances: [...list, origin] });
  return { ok: true, origin, instances: await registerInstanceScripts() };
}

async function removeInstance(origin) {
  await ext.storage.local.set({ instances: (await instances()).filter((o) => o !== origin) });
  if (ext.permissions.remove) await ext.permissions.remove({ origins: [`${origin}/*`] }).catch(() => false);
  return { ok: true, instances: await registerInstanceScripts() };
}

// ---------- messaging ----------

const handlers = {
  lookup: (msg) => lookup(msg.platform, msg.handles),
  myVotes: (msg) => myVotes(msg.platform, msg.postIds).catch((err) => ({ ok: false, reason: err.reason || "offline", connected: err.reason !== "unauthorized" })),
  vote: (msg) => vote(msg.platform, msg.postId, msg.handle, msg.value, msg.text),
  pair: (msg, sender) => pair(msg.token, msg.apiBase, sender.url),
  status: () => status(),
  openOptions: () => ext.runtime.openOptionsPage().then(() => ({ ok: true })),
  // Extension pages only (options.html), never content scripts:
  setServer: (msg, sender) => (fromExtensionPage(sender) ? setServer(msg.server) : Promise.resolve({ ok: false })),
  instances: (msg, sender) => (fromExtensionPage(sender) ? instances().then((list) => ({ ok: true, instances: list }))
    : Promise.resolve({ ok: false })),
  addInstance: (msg, sender) => (fromExtensionPage(sender) ? addInstance(msg.instance) : Promise.resolve({ ok: false })),
  removeInstance: (msg, sender) => (fromExtensionPage(sender) ? removeInstance(msg.origin) : Promise.resolve({ ok: false })),
  disconnect: (msg, sender) => (fromExtensionPage(sender)
    ? ext.storage.local.remove("token").then(status) : Promise.resolve({ ok: false })),
};

// Content scripts report the web page's URL; the options page (even open in a tab) reports ours.
function fromExtensionPage(sender) {
  return typeof sender.url === "string" && sender.url.startsWith(ext.runtime.getURL(""));
}

ext.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  if (sender.id !== ext.runtime.id || !msg || !handlers[msg.type]) return false;
  handlers[msg.type](msg, sender)
    .then(sendResponse, (err) => sendResponse({ ok: false, reason: "error", detail: String(err && err.message) }));
  return true; // keeps the channel open for the async answer
});

for (const event of [ext.runtime.onStartup, ext.runtime.onInstalled, ext.permissions && ext.permissions.onRemoved]) {
  if (event && event.addListener) event.addListener(() => { registerInstanceScripts().catch(() => {}); });
}

if (ext.action && ext.action.onClicked) {
  ext.action.onClicked.addListener(() => ext.runtime.openOptionsPage());
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = {
    lookup, myVotes, vote, pair, setServer, status, retryAfterMs, instanceOrigin, addInstance, removeInstance,
    registerInstanceScripts, TTL_MS, BATCH_SIZE, ACTION_TITLE,
  };
}
