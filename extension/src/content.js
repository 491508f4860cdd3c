/*
 * Merit content script for x.com, bsky.app and granted Mastodon instances: finds posts and authors
 * through the site's module (selectors.js, bsky.js or mastodon.js, loaded before this one), shows a
 * reputation badge beside each author, reputation in place of a profile's follower count,
 * and quality vote buttons on each post. It never talks to the network and never sees the
 * token: everything goes through the service worker, which answers with data and booleans.
 *
 * One MutationObserver; rescans are batched per animation frame. Articles are marked with
 * data-merit-key (author + post id) because the virtualised timeline recycles nodes: a
 * node whose key changed is cleaned and processed again.
 */
(function () {
  "use strict";
  const ext = globalThis.browser || globalThis.chrome;
  const site = globalThis.MeritSite; // this page's platform: its selectors and DOM-reading rules
  const S = site.S;
  const F = globalThis.MeritFormat;
  const P = "merit-ext"; // class prefix for everything this script adds
  const RETRY_MS = 30_000;
  const FRESH_MS = 60_000; // these sites are long-lived apps: look authors up again after this

  const authors = new Map(); // handle -> author | null (the worker has the shared cache)
  const fetchedAt = new Map(); // handle -> when this page last got it
  const votes = new Map(); // post id -> 1 | -1 | 0
  const asked = new Set(); // post ids whose vote state was requested
  let connected = false;
  let reachable = false; // a lookup has succeeded: only then is any Merit UI shown
  let frame = 0;
  let retryTimer = 0;

  function ask(msg) {
    try {
      return Promise.resolve(ext.runtime.sendMessage(msg)).catch(() => null);
    } catch (_) {
      return Promise.resolve(null); // extension reloaded under this page
    }
  }

  function el(tag, cls, attrs = {}, text = "") {
    const node = document.createElement(tag);
    node.className = cls;
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    return node;
  }

  function ours(node) {
    return node.nodeType === 1 && (node.classList.contains(`${P}-badge`) || node.classList.contains(`${P}-votes`) ||
      node.classList.contains(`${P}-profile`) || node.id === `${P}-indicator`);
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; safely(scan); });
  }

  function safely(fn) {
    try {
      fn();
    } catch (err) {
      console.debug("merit:", err); // a markup change must never break the page
    }
  }

  // ---------- scanning ----------

  function where() {
    return { pathname: location.pathname, hostname: location.hostname.toLowerCase() };
  }

  function scan() {
    const here = where();
    const newHandles = new Set();
    const newPosts = new Set();
    for (const article of document.querySelectorAll(S.post)) {
      const posts = site.postsIn(article, here);
      const key = posts.map((p) => `${p.handle}:${p.postId || ""}`).join("|");
      if (article.getAttribute("data-merit-key") === key) continue;
      clean(article);
      article.setAttribute("data-merit-key", key);
      article.setAttribute("data-merit-post", (posts[0] && posts[0].postId) || "");
      for (const p of posts) {
        if (!fresh(p.handle)) newHandles.add(p.handle);
        if (p.postId && !p.quoted && !asked.has(p.postId)) newPosts.add(p.postId);
      }
    }
    const profile = site.profileIn(document, here);
    if (profile && !fresh(profile.handle)) newHandles.add(profile.handle);
    if (newHandles.size) requestAuthors(Array.from(newHandles));
    if (newPosts.size) requestVotes(Array.from(newPosts));
    render();
  }

  function fresh(handle) {
    return fetchedAt.has(handle) && Date.now() - fetchedAt.get(handle) < FRESH_MS;
  }

  function clean(root) {
    root.querySelectorAll(`.${P}-badge, .${P}-votes`).forEach((n) => n.remove());
  }

  async function requestAuthors(handles) {
    for (const h of handles) fetchedAt.set(h, Date.now()); // no second request while this one runs
    const answer = await ask({ type: "lookup", platform: site.platform, handles });
    if (!answer || !answer.ok) {
      for (const h of handles) fetchedAt.delete(h);
      showIndicator(answer ? answer.reason : "offline");
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => { document.querySelectorAll("[data-merit-key]").forEach((a) => a.removeAttribute("data-merit-key")); schedule(); }, RETRY_MS);
      return;
    }
    reachable = true;
    hideIndicator();
    for (const [h, a] of Object.entries(answer.results || {})) authors.set(h, a);
    safely(render);
  }

  async function requestVotes(postIds) {
    postIds.forEach((id) => asked.add(id));
    const answer = await ask({ type: "myVotes", platform: site.platform, postIds });
    if (!answer || !answer.ok) {
      postIds.forEach((id) => asked.delete(id));
      return;
    }
    connected = Boolean(answer.connected);
    for (const id of postIds) votes.set(id, (answer.votes && answer.votes[id]) || 0);
    safely(render);
  }

  // ---------- rendering (idempotent) ----------

  function render() {
    if (!reachable) return;
    const here = where();
    for (const article of document.querySelectorAll("[data-merit-key]")) {
      for (const p of site.postsIn(article, here)) {
        if (authors.has(p.handle)) ensureBadge(p.nameEl, p.handle, authors.get(p.handle));
        if (!p.quoted && p.postId) ensureVoteBar(article, p);
      }
    }
    const profile = site.profileIn(document, here);
    if (profile && authors.has(profile.handle)) ensureProfile(profile, authors.get(profile.handle));
  }

  function badgeAttrs(handle, author) {
    return {
      "data-merit-badge": "",
      "data-merit-handle": handle,
      "data-merit-score": author && author.score != null ? String(author.score) : "",
      "data-merit-status": author ? author.status : "unknown",
      title: F.tooltip(handle, author),
      // A name for screen readers (the tooltip's first line): the bare "71" says nothing out of context.
      role: "img",
      "aria-label": F.tooltip(handle, author).split("\n")[0],
    };
  }

  function ensureBadge(nameEl, handle, author) {
    const row = site.badgeHost(nameEl);
    const existing = row.querySelector(`:scope > .${P}-badge`);
    if (existing && existing.getAttribute("data-merit-handle") === handle && existing.title === F.tooltip(handle, author)) return;
    if (existing) existing.remove();
    const badge = el("span", `${P}-badge ${P}-band-${F.band(author)}`, badgeAttrs(handle, author), F.label(author));
    if (author && author.url) {
      badge.setAttribute("role", "link");
      badge.tabIndex = 0;
      const open = (ev) => {
        ev.preventDefault();
        ev.stopPropagation(); // these sites open the post on any click inside it
        window.open(author.url, "_blank", "noopener");
      };
      badge.addEventListener("click", open);
      badge.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(ev); }); // as a real link would
    }
    if (site.placeBadge) site.placeBadge(nameEl, badge); // right after the name, inside the same row
    else row.appendChild(badge);
  }

  function ensureVoteBar(article, post) {
    let bar = article.querySelector(`.${P}-votes`);
    if (!bar) {
      bar = el("span", `${P}-votes`, { "data-merit-votes": "", "data-merit-post-id": post.postId, "data-merit-handle": post.handle });
      bar.appendChild(el("button", `${P}-vote ${P}-up`, { type: "button", "data-merit-vote": "up", "aria-label": "Good post (Merit)" }, "▲"));
      bar.appendChild(el("button", `${P}-vote ${P}-down`, { type: "button", "data-merit-vote": "down", "aria-label": "Poor post (Merit)" }, "▼"));
      bar.addEventListener("click", onVoteClick);
      const group = site.actionBarOf(article);
      (group || post.nameEl.parentElement || article).appendChild(bar);
    }
    paintVoteBar(bar);
  }

  function paintVoteBar(bar) {
    const id = bar.getAttribute("data-merit-post-id");
    const mine = votes.get(id) || 0;
    bar.setAttribute("data-merit-my-vote", String(mine));
    bar.setAttribute("data-merit-connected", String(connected));
    for (const button of bar.querySelectorAll("button")) {
      const value = button.getAttribute("data-merit-vote") === "up" ? 1 : -1;
      button.setAttribute("aria-pressed", String(mine === value));
      button.title = !connected ? "Connect Merit to vote (opens the extension's options)"
        : mine === value ? "Your Merit vote; click to retract" : button.getAttribute("aria-label");
    }
  }

  async function onVoteClick(ev) {
    const button = ev.target.closest("button[data-merit-vote]");
    if (!button) return;
    ev.preventDefault();
    ev.stopPropagation();
    const bar = button.closest(`.${P}-votes`);
    if (!connected) {
      ask({ type: "openOptions" });
      return;
    }
    const id = bar.getAttribute("data-merit-post-id");
    const clicked = button.getAttribute("data-merit-vote") === "up" ? 1 : -1;
    const before = votes.get(id) || 0;
    const value = before === clicked ? 0 : clicked; // clicking the active vote retracts it
    votes.set(id, value);
    repaint(id);
    bar.setAttribute("data-merit-busy", "true");
    const answer = await ask({
      type: "vote", platform: site.platform, postId: id, handle: bar.getAttribute("data-merit-handle"), value,
      text: value ? visibleText(bar) : undefined,
    });
    bar.removeAttribute("data-merit-busy");
    if (!answer || !answer.ok) {
      votes.set(id, before);
      repaint(id);
      if (answer && answer.reason === "unauthorized") connected = false;
      bar.setAttribute("data-merit-error", (answer && answer.detail) || "Merit is unreachable");
      bar.title = bar.getAttribute("data-merit-error");
      return;
    }
    bar.removeAttribute("data-merit-error");
    bar.removeAttribute("title");
  }

  /** The text of the post this vote bar belongs to, as the page shows it (the worker bounds its length). */
  function visibleText(bar) {
    const post = bar.closest(S.post);
    const node = post && site.postText ? site.postText(post) : null;
    return node ? (node.innerText || node.textContent || "").trim() : "";
  }

  function repaint(id) {
    document.querySelectorAll(`.${P}-votes[data-merit-post-id="${CSS.escape(id)}"]`).forEach(paintVoteBar);
  }

  function ensureProfile(profile, author) {
    const { handle, followersLink, header } = profile;
    const host = followersLink || header;
    const existing = document.querySelector(`.${P}-profile`);
    if (existing && existing.getAttribute("data-merit-handle") === handle && host.contains(existing) &&
      existing.getAttribute("data-merit-score") === badgeAttrs(handle, author)["data-merit-score"]) return;
    if (existing) restoreProfile(existing);
    const badge = el("span", `${P}-profile ${P}-band-${F.band(author)}`, badgeAttrs(handle, author));
    badge.appendChild(el("span", `${P}-profile-score`, {}, F.label(author)));
    badge.appendChild(el("span", `${P}-profile-word`, {}, " Merit"));
    if (followersLink) {
      const followers = followersLink.textContent.replace(/\s+/g, " ").trim();
      followersLink.setAttribute("data-merit-followers", followers);
      followersLink.setAttribute("data-merit-original-title", followersLink.getAttribute("title") || "");
      followersLink.setAttribute("title", `${followers} — Merit reputation ${F.label(author)}`);
      followersLink.classList.add(`${P}-replaced`);
      badge.title = `${followers}\n${badge.title}`;
      followersLink.prepend(badge);
    } else {
      header.appendChild(badge);
    }
  }

  function restoreProfile(badge) {
    const link = badge.closest(`.${P}-replaced`);
    if (link) {
      link.classList.remove(`${P}-replaced`);
      const title = link.getAttribute("data-merit-original-title");
      if (title) link.setAttribute("title", title); else link.removeAttribute("title");
      link.removeAttribute("data-merit-followers");
      link.removeAttribute("data-merit-original-title");
    }
    badge.remove();
  }

  // ---------- quiet failure indicator ----------

  function showIndicator(reason) {
    let dot = document.getElementById(`${P}-indicator`);
    if (!dot) {
      dot = el("div", `${P}-indicator`, { id: `${P}-indicator`, role: "status" });
      dot.appendChild(el("span", `${P}-sr-only`, {}, ""));
      (document.body || document.documentElement).appendChild(dot);
    }
    dot.setAttribute("data-merit-state", reason || "offline");
    dot.title = reason === "rate_limited" ? "Merit: rate-limited, will retry later" : "Merit: server unreachable, will retry";
    dot.firstChild.textContent = dot.title; // a status region is read from its text, not its title
  }

  function hideIndicator() {
    const dot = document.getElementById(`${P}-indicator`);
    if (dot) dot.remove();
  }

  // ---------- start ----------

  // Recycled timeline nodes may change only a link's href or a text node, so those count too.
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      if (m.type !== "childList") return schedule();
      for (const n of m.addedNodes) {
        if (n.nodeType !== 1 || !ours(n)) return schedule();
      }
    }
  }).observe(document.documentElement, {
    childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["href"],
  });
  schedule();
})();
