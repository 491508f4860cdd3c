"use strict";
/* The worker across platforms: lookups per platform, each platform's post ids, Mastodon instances the user granted. */
const test = require("node:test");
const assert = require("node:assert/strict");
const { loadWorker } = require("./helpers");

function echoAuthors(url) {
  const handles = url.searchParams.get("handles").split(",");
  return { body: { platform: url.searchParams.get("platform"), results: Object.fromEntries(handles.map((h) => [h, { handle: h, score: 60 }])) } };
}

test("lookups name their platform, one request per platform, and cache per platform", async () => {
  const { send, calls } = loadWorker({ respond: echoAuthors });
  const [bsky, masto] = await Promise.all([
    send({ type: "lookup", platform: "bluesky", handles: ["Alice.bsky.social"] }),
    send({ type: "lookup", platform: "mastodon", handles: ["alice@Mastodon.Social"] }),
  ]);
  assert.deepEqual(calls.map((c) => new URL(c.url).searchParams.get("platform")).sort(), ["bluesky", "mastodon"]);
  assert.deepEqual(Object.keys(bsky.results), ["alice.bsky.social"]);
  assert.deepEqual(Object.keys(masto.results), ["alice@mastodon.social"]);
  await send({ type: "lookup", platform: "x", handles: ["alice"] }); // the same word on X is another author
  assert.equal(calls.length, 3);
  await send({ type: "lookup", platform: "bluesky", handles: ["alice.bsky.social"] });
  assert.equal(calls.length, 3); // cached
});

test("a lookup for an unknown platform is refused without a request", async () => {
  const { send, calls } = loadWorker({ respond: echoAuthors });
  assert.deepEqual(await send({ type: "lookup", platform: "myspace", handles: ["a"] }), { ok: false, reason: "rejected" });
  assert.equal(calls.length, 0);
});

test("votes carry their platform; Bluesky record keys and Mastodon host:id ids are accepted, others refused", async () => {
  const { send, calls, chrome } = loadWorker({ respond: () => ({ status: 201, body: {} }) });
  await chrome.storage.local.set({ token: "t" });
  assert.equal((await send({ type: "vote", platform: "bluesky", postId: "3kgood00001", handle: "good.bsky.social", value: 1 })).ok, true);
  assert.equal((await send({ type: "vote", platform: "mastodon", postId: "mastodon.social:110", handle: "a@b.social", value: -1 })).ok, true);
  assert.deepEqual(calls.map((c) => JSON.parse(c.body).platform), ["bluesky", "mastodon"]);
  assert.equal(JSON.parse(calls[1].body).post_id, "mastodon.social:110");
  for (const [platform, postId] of [["bluesky", "123"], ["mastodon", "110"], ["x", "3kgood00001"], ["mastodon", "a b:1"]]) {
    const answer = await send({ type: "vote", platform, postId, handle: "h", value: 1 });
    assert.equal(answer.ok, false, `${platform} ${postId}`);
  }
  assert.equal(calls.length, 2);
});

test("retracting a Mastodon vote escapes the post id in the path", async () => {
  const { send, calls, chrome } = loadWorker({ respond: () => ({ status: 204 }) });
  await chrome.storage.local.set({ token: "t" });
  await send({ type: "vote", platform: "mastodon", postId: "mastodon.social:110", handle: "a@mastodon.social", value: 0 });
  assert.equal(calls[0].method, "DELETE");
  assert.equal(calls[0].url, "http://merit.test/api/v1/votes/mastodon/mastodon.social%3A110");
});

test("my votes are asked for on the page's platform", async () => {
  const { send, calls, chrome } = loadWorker({
    respond: () => ({ body: { results: [{ post_id: "mastodon.social:110", value: 1 }], next: null } }),
  });
  await chrome.storage.local.set({ token: "t" });
  const answer = await send({ type: "myVotes", platform: "mastodon", postIds: ["mastodon.social:110"] });
  assert.deepEqual(answer.votes, { "mastodon.social:110": 1 });
  assert.equal(new URL(calls[0].url).searchParams.get("platform"), "mastodon");
});

const plain = (value) => JSON.parse(JSON.stringify(value)); // out of the worker's VM realm

function withScripting(chrome, granted) {
  const registered = [];
  chrome.scripting = {
    registerContentScripts: async (scripts) => { registered.push(...scripts); },
    unregisterContentScripts: async ({ ids }) => { for (const id of ids) registered.splice(0, registered.length, ...registered.filter((s) => s.id !== id)); },
  };
  chrome.permissions.contains = async ({ origins }) => origins.every((o) => granted.has(o));
  chrome.permissions.remove = async ({ origins }) => { origins.forEach((o) => granted.delete(o)); return true; };
  return registered;
}

test("a granted Mastodon instance gets the content script; a removed one loses it", async () => {
  const { send, chrome } = loadWorker({ respond: () => ({}) });
  const granted = new Set(["https://mastodon.social/*", "https://fosstodon.org/*"]);
  const registered = withScripting(chrome, granted);
  const options = { id: "merit-test", url: "chrome-extension://merit-test/options.html" };

  const added = await send({ type: "addInstance", instance: "Mastodon.Social" }, options);
  assert.deepEqual(added.instances, ["https://mastodon.social"]);
  await send({ type: "addInstance", instance: "https://fosstodon.org/@someone" }, options);
  assert.equal(registered.length, 1);
  assert.deepEqual(plain(registered[0].matches), ["https://mastodon.social/*", "https://fosstodon.org/*"]);
  assert.deepEqual(plain(registered[0].js), ["src/mastodon.js", "src/format.js", "src/content.js"]);

  const removed = await send({ type: "removeInstance", origin: "https://mastodon.social" }, options);
  assert.deepEqual(removed.instances, ["https://fosstodon.org"]);
  assert.deepEqual(plain(registered[0].matches), ["https://fosstodon.org/*"]);
  assert.ok(!granted.has("https://mastodon.social/*")); // the browser permission is given back too
});

test("an instance whose permission was withdrawn in the browser gets no script", async () => {
  const { send, chrome } = loadWorker({ respond: () => ({}) });
  const registered = withScripting(chrome, new Set());
  const answer = await send({ type: "addInstance", instance: "mastodon.social" }, { id: "merit-test", url: "chrome-extension://merit-test/options.html" });
  assert.deepEqual(answer.instances, []);
  assert.equal(registered.length, 0);
});

test("content scripts cannot add instances, and addresses that are not hosts are refused", async () => {
  const { send, chrome } = loadWorker({ respond: () => ({}) });
  withScripting(chrome, new Set(["https://evil.example/*"]));
  assert.deepEqual(await send({ type: "addInstance", instance: "evil.example" }, { id: "merit-test", url: "https://x.com/home" }), { ok: false });
  const options = { id: "merit-test", url: "chrome-extension://merit-test/options.html" };
  for (const bad of ["not a host", "ftp://files.example", "intranet"]) {
    assert.equal((await send({ type: "addInstance", instance: bad }, options)).ok, false, bad);
  }
  assert.equal(chrome.storage.local.data.instances, undefined);
});
