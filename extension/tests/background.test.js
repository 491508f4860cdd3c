"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { loadWorker } = require("./helpers");

function authorsApi(known = {}) {
  return (url) => {
    const handles = url.searchParams.get("handles").split(",");
    return { body: { platform: "x", results: Object.fromEntries(handles.map((h) => [h, known[h] || null])) } };
  };
}

test("it batches lookups from many tabs into one request and lower-cases handles", async () => {
  const { send, calls } = loadWorker({ respond: authorsApi({ alice: { handle: "alice", score: 70 } }) });
  const [a, b] = await Promise.all([
    send({ type: "lookup", handles: ["Alice", "bob"] }),
    send({ type: "lookup", handles: ["alice", "carol"] }),
  ]);
  assert.equal(calls.length, 1);
  assert.deepEqual(new URL(calls[0].url).searchParams.get("handles").split(",").sort(), ["alice", "bob", "carol"]);
  assert.equal(a.results.alice.score, 70);
  assert.equal(a.results.bob, null);
  assert.deepEqual(Object.keys(b.results).sort(), ["alice", "carol"]);
});

test("it answers repeated lookups from its cache", async () => {
  const { send, calls } = loadWorker({ respond: authorsApi({ alice: { score: 70 } }) });
  await send({ type: "lookup", handles: ["alice"] });
  const again = await send({ type: "lookup", handles: ["alice"] });
  assert.equal(calls.length, 1);
  assert.equal(again.results.alice.score, 70);
});

test("it splits more than 100 handles into requests of at most 100", async () => {
  const { send, calls } = loadWorker({ respond: authorsApi() });
  const handles = Array.from({ length: 250 }, (_, i) => `h${i}`);
  const answer = await send({ type: "lookup", handles });
  assert.equal(Object.keys(answer.results).length, 250);
  assert.deepEqual(calls.map((c) => new URL(c.url).searchParams.get("handles").split(",").length), [100, 100, 50]);
});

test("it stops calling a rate-limiting server until Retry-After has passed", async () => {
  const { send, calls, chrome } = loadWorker({ respond: () => ({ status: 429, headers: { "Retry-After": "30" }, body: {} }) });
  assert.deepEqual(await send({ type: "lookup", handles: ["a"] }), { ok: false, reason: "rate_limited" });
  assert.deepEqual(await send({ type: "lookup", handles: ["b"] }), { ok: false, reason: "rate_limited" });
  assert.equal(calls.length, 1);
  const until = chrome.storage.session.data.blocked.until;
  assert.ok(until - Date.now() > 25_000 && until - Date.now() <= 30_000);
});

test("an unreachable server is reported as offline, not thrown", async () => {
  const { send } = loadWorker({ respond: () => new TypeError("Failed to fetch") });
  assert.deepEqual(await send({ type: "lookup", handles: ["a"] }), { ok: false, reason: "offline" });
});

test("votes carry the token; the token itself is never sent back to a content script", async () => {
  const { send, calls, chrome } = loadWorker({ respond: () => ({ status: 201, body: {} }) });
  await chrome.storage.local.set({ token: "secret-token" });
  const answer = await send({ type: "vote", postId: "123", handle: "alice", value: 1 }, { id: "merit-test", tab: { id: 1 } });
  assert.deepEqual(answer, { ok: true, value: 1 });
  assert.equal(calls[0].headers.Authorization, "Token secret-token");
  assert.deepEqual(JSON.parse(calls[0].body), { platform: "x", post_id: "123", author: "alice", value: 1 });
  const status = await send({ type: "status" }, { id: "merit-test", tab: { id: 1 } });
  assert.equal(status.connected, true);
  assert.ok(!JSON.stringify(status).includes("secret-token"));
});

test("a vote carries the post's visible text, at most 1000 characters", async () => {
  const { send, calls, chrome } = loadWorker({ respond: () => ({ status: 201, body: {} }) });
  await chrome.storage.local.set({ token: "t" });
  await send({ type: "vote", postId: "123", handle: "alice", value: 1, text: "  Hello 👋 world  " });
  assert.equal(JSON.parse(calls[0].body).text, "Hello 👋 world");
  await send({ type: "vote", postId: "124", handle: "alice", value: 1, text: "👋".repeat(1500) });
  assert.equal(Array.from(JSON.parse(calls[1].body).text).length, 1000); // characters, as the server counts them
  await send({ type: "vote", postId: "125", handle: "alice", value: 1, text: "   " });
  assert.ok(!("text" in JSON.parse(calls[2].body)));
});

test("retracting sends DELETE for the post", async () => {
  const { send, calls, chrome } = loadWorker({ respond: () => ({ status: 204 }) });
  await chrome.storage.local.set({ token: "t" });
  assert.deepEqual(await send({ type: "vote", postId: "123", handle: "alice", value: 0 }), { ok: true, value: 0 });
  assert.equal(calls[0].method, "DELETE");
  assert.equal(calls[0].url, "http://merit.test/api/v1/votes/x/123");
});

test("a revoked token (401) disconnects the extension", async () => {
  const { send, chrome } = loadWorker({ respond: () => ({ status: 401, body: { detail: "Invalid token." } }) });
  await chrome.storage.local.set({ token: "revoked" });
  const answer = await send({ type: "vote", postId: "1", handle: "a", value: 1 });
  assert.equal(answer.ok, false);
  assert.equal(answer.reason, "unauthorized");
  assert.equal(chrome.storage.local.data.token, undefined);
});

test("pairing accepts a token only from the page of the server that minted it", async () => {
  const { send, chrome } = loadWorker({ respond: () => ({}) });
  const bad = await send({ type: "pair", token: "t1", apiBase: "https://merit.example/api/v1/" },
    { id: "merit-test", url: "https://evil.example/connect/" });
  assert.equal(bad.ok, false);
  const good = await send({ type: "pair", token: "t2", apiBase: "https://merit.example/api/v1/" },
    { id: "merit-test", url: "https://merit.example/connect/" });
  assert.equal(good.ok, true);
  assert.equal(chrome.storage.local.data.token, "t2");
  assert.equal(chrome.storage.local.data.server, "https://merit.example");
});

test("content scripts cannot change the server or disconnect", async () => {
  const { send, chrome } = loadWorker({ respond: () => ({}) });
  await chrome.storage.local.set({ token: "t" });
  const page = { id: "merit-test", url: "https://x.com/home", tab: { id: 3 } };
  assert.deepEqual(await send({ type: "setServer", server: "https://evil.example" }, page), { ok: false });
  assert.deepEqual(await send({ type: "disconnect" }, page), { ok: false });
  assert.equal(chrome.storage.local.data.token, "t");
});

test("the options page, even open in a tab, can change the server, which drops the old token", async () => {
  const { send, chrome } = loadWorker({ respond: () => ({}) });
  await chrome.storage.local.set({ token: "t" });
  const options = { id: "merit-test", url: "chrome-extension://merit-test/options.html", tab: { id: 4 } };
  const status = await send({ type: "setServer", server: "https://merit.example/" }, options);
  assert.deepEqual(status, { connected: false, server: "https://merit.example", state: "ok" });
  assert.equal(chrome.storage.local.data.server, "https://merit.example");
});

test("messages from other extensions are ignored", async () => {
  const { send } = loadWorker({ respond: () => ({}) });
  assert.equal(await send({ type: "status" }, { id: "someone-else" }), undefined);
});

test("voting on a post drops its author from the cache so the next lookup is fresh", async () => {
  const lookups = [];
  const { send, chrome } = loadWorker({
    respond: (url, init) => {
      if (url.pathname.endsWith("/authors")) lookups.push(url.href);
      return url.pathname.endsWith("/authors") ? authorsApi({ alice: { score: 70 } })(url) : { status: 201, body: {} };
    },
  });
  await chrome.storage.local.set({ token: "t" });
  await send({ type: "lookup", handles: ["alice"] });
  await send({ type: "vote", postId: "9", handle: "Alice", value: 1 });
  await send({ type: "lookup", handles: ["alice"] });
  assert.equal(lookups.length, 2);
});

test("once the server answers, the toolbar button's title leads to Rate next", async () => {
  const { send, chrome, worker } = loadWorker({ respond: () => ({ body: { platform: "x", results: { a: null } } }) });
  const titles = [];
  chrome.action.setTitle = async ({ title }) => { titles.push(title); };
  await send({ type: "lookup", handles: ["a"] });
  assert.equal(titles.at(-1), worker.ACTION_TITLE);
  assert.match(worker.ACTION_TITLE, /Rate next/);
});
