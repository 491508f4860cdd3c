/* Loads src/background.js into a fresh VM context with an in-memory chrome.* and a scripted fetch. */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

function storageArea() {
  const data = {};
  return {
    data,
    async get(keys) {
      const list = keys == null ? Object.keys(data) : Array.isArray(keys) ? keys : [keys];
      const out = {};
      for (const k of list) if (k in data) out[k] = structuredClone(data[k]);
      return out;
    },
    async set(obj) { Object.assign(data, structuredClone(obj)); },
    async remove(keys) { for (const k of [].concat(keys)) delete data[k]; },
  };
}

function loadWorker({ respond }) {
  const calls = [];
  const listeners = [];
  const chrome = {
    runtime: { id: "merit-test", getURL: (p) => `chrome-extension://merit-test/${p}`, onMessage: { addListener: (fn) => listeners.push(fn) }, openOptionsPage: async () => {} },
    storage: { local: storageArea(), session: storageArea() },
    action: { setBadgeText: async () => {}, setBadgeBackgroundColor: async () => {}, setTitle: async () => {}, onClicked: { addListener() {} } },
    permissions: { contains: async () => false },
  };
  const fetch = async (url, init = {}) => {
    calls.push({ url, method: init.method || "GET", headers: init.headers || {}, body: init.body });
    const r = await respond(new URL(url), init);
    if (r instanceof Error) throw r;
    return new Response(r.body == null ? null : JSON.stringify(r.body), { status: r.status || 200, headers: r.headers || {} });
  };
  const module = { exports: {} };
  const context = vm.createContext({
    self: { MERIT_CONFIG: { defaultServer: "http://merit.test" } },
    chrome, fetch, module, console, URL, URLSearchParams, AbortController, Response,
    setTimeout, clearTimeout, Promise, Date, structuredClone,
  });
  context.self.MERIT_CONFIG = { defaultServer: "http://merit.test" };
  context.MERIT_CONFIG = context.self.MERIT_CONFIG;
  vm.runInContext(fs.readFileSync(path.join(__dirname, "..", "src", "background.js"), "utf8"), context);
  const send = (msg, sender = { id: "merit-test" }) => new Promise((resolve) => {
    // Messages are copied between contexts, as chrome.runtime does (and across the VM realm here).
    const kept = listeners[0](msg, sender, (answer) => resolve(answer === undefined ? undefined : JSON.parse(JSON.stringify(answer))));
    if (!kept) resolve(undefined);
  });
  return { worker: module.exports, chrome, calls, send };
}

module.exports = { loadWorker };
