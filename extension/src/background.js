/*
 * Merit service worker (an event page in Firefox): every network call goes through here.
 *
 * - Batches handle lookups from all tabs into GET /api/v1/authors (<=100 per call),
 *   de-duplicates in-flight handles and caches answers for TTL_MS.
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
const PLATFORM = "x";
// The toolbar button opens the options page, whose first link is the site's Rate next queue.
const ACTION_TITLE = "Merit: Rate next and options";

const memCache = new Map(); // handle -> {v, t}
const inflight = new Map(); // handle -> Promise<author|null>
let pending = new Map(); // handle -> {resolve, reject}, waiting for the next flush
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

async function readCache(handles) {
  const now = Date.now();
  const found = {};
  const missing = [];
  let stored = {};
  if (sessionArea && handles.some((h) => !memCache.has(h))) {
    stored = (await sessionArea.get("authors")).authors || {};
  }
  for (const h of handles) {
    const hit = memCache.get(h) || stored[h];
    if (hit && now - hit.t < TTL_MS) {
      memCache.set(h, hit);
      found[h] = hit.v;
    } else {
      missing.push(h);
    }
  }
  return { found, missing };
}

async function writeCache(results) {
  const now = Date.now();
  for (const [h, v] of Object.entries(results)) memCache.set(h, { v, t: now });
  if (!sessionArea) return;
  const stored = (await sessionArea.get("authors")).authors || {};
  for (const [h, e] of Object.entries(stored)) if (now - e.t >= TTL_MS) delete stored[h];
  for (const [h, v] of Object.entries(results)) stored[h] = { v, t: now };
  await sessionArea.set({ authors: stored });
}

async function forget(handle) {
  memCache.delete(handle);
  if (!sessionArea) return;
  const stored = (await sessionArea.get("authors")).authors || {};
  delete stored[handle];
  await sessionArea.set({ authors: stored });
}

function scheduleFlush() {
  if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_DELAY_MS);
}

async function flush() {
  flushTimer = null;
  const batch = pending;
  pending = new Map();
  const handles = Array.from(batch.keys());
  for (let i = 0; i < handles.length; i += BATCH_SIZE) {
    const chunk = handles.slice(i, i + BATCH_SIZE);
    try {
      const q = new URLSearchParams({ platform: PLATFORM, handles: chunk.join(",") });
      const { data } = await api(`authors?${q}`);
      const results = {};
      for (const h of chunk) results[h] = (data && data.results && data.results[h]) || null;
      await writeCache(results);
      for (const h of chunk) batch.get(h).resolve(results[h]);
    } catch (err) {
      for (const h of chunk) batch.get(h).reject(err);
    }
  }
}

function fetchAuthor(handle) {
  if (inflight.has(handle)) return inflight.get(handle);
  const promise = new Promise((resolve, reject) => {
    pending.set(handle, { resolve, reject });
    scheduleFlush();
  }).finally(() => inflight.delete(handle));
  inflight.set(handle, promise);
  return promise;
}

async function lookup(rawHandles) {
  const handles = Array.from(new Set((rawHandles || []).map((h) => String(h).toLowerCase()))).slice(0, 500);
  const blocked = await blockedState();
  if (blocked) return { ok: false, reason: blocked.reason };
  const { found, missing } = await readCache(handles);
  const settled = await Promise.allSettled(missing.map(fetchAuthor));
  const failure = settled.find((s) => s.status === "rejected");
  if (failure) return { ok: false, reason: failure.reason.reason || "offline" };
  missing.forEach((h, i) => { found[h] = settled[i].value; });
  return { ok: true, results: found };
}

// ---------- votes ----------

async function myVotes(postIds) {
  const { token } = await settings();
  if (!token) return { ok: true, connected: false, votes: {} };
  const ids = Array.from(new Set(postIds || [])).slice(0, 100);
  if (!ids.length) return { ok: true, connected: true, votes: {} };
  const votes = {};
  let path = `votes?${new URLSearchParams({ platform: PLATFORM, post_ids: ids.join(",") })}`;
  for (let page = 0; path && page < 5; page++) {
    const { data } = await api(path, { auth: true });
    for (const v of (data && data.results) || []) votes[v.post_id] = v.value;
    // `next` is absolute; keep only the part under the API base.
    path = data && data.next ? data.next.slice(data.next.indexOf("/api/v1/") + "/api/v1/".length) : null;
  }
  return { ok: true, connected: true, votes };
}

async function vote(postId, handle, value) {
  if (!/^\d{1,25}$/.test(String(postId)) || ![1, -1, 0].includes(value)) {
    return { ok: false, reason: "rejected", detail: "Invalid vote" };
  }
  try {
    if (value === 0) {
      await api(`votes/${PLATFORM}/${postId}`, { method: "DELETE", auth: true }).catch((err) => {
        if (err.status !== 404) throw err; // already gone counts as retracted
      });
    } else {
      await api("votes", { method: "POST", auth: true, body: { platform: PLATFORM, post_id: String(postId), author: handle, value } });
    }
    await forget(String(handle).toLowerCase()); // the next lookup shows the refreshed reputation
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

// ---------- messaging ----------

const handlers = {
  lookup: (msg) => lookup(msg.handles),
  myVotes: (msg) => myVotes(msg.postIds).catch((err) => ({ ok: false, reason: err.reason || "offline", connected: err.reason !== "unauthorized" })),
  vote: (msg) => vote(msg.postId, msg.handle, msg.value),
  pair: (msg, sender) => pair(msg.token, msg.apiBase, sender.url),
  status: () => status(),
  openOptions: () => ext.runtime.openOptionsPage().then(() => ({ ok: true })),
  // Extension pages only (options.html), never content scripts:
  setServer: (msg, sender) => (fromExtensionPage(sender) ? setServer(msg.server) : Promise.resolve({ ok: false })),
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

if (ext.action && ext.action.onClicked) {
  ext.action.onClicked.addListener(() => ext.runtime.openOptionsPage());
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = { lookup, myVotes, vote, pair, setServer, status, retryAfterMs, TTL_MS, BATCH_SIZE, ACTION_TITLE };
}
