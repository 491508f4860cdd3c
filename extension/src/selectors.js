/*
 * Every x.com selector and DOM-reading rule lives here: x.com changes its markup
 * often, and a fix should touch one file. Only data-testid attributes and link
 * shapes are used, never the hashed `css-…` class names.
 *
 * Classic script (content scripts cannot be modules): defines globalThis.MeritSelectors and
 * globalThis.MeritSite (the interface content.js reads every site through; bsky.js and
 * mastodon.js define the same), and module.exports when loaded by `node --test`.
 */
(function (root) {
  "use strict";

  const S = {
    tweet: 'article[data-testid="tweet"]',
    userName: '[data-testid="User-Name"]',
    tweetText: '[data-testid="tweetText"]',
    actionBar: '[role="group"]',
    socialContext: '[data-testid="socialContext"]',
    profileHeader: '[data-testid="UserName"]',
    followersLink: 'a[href$="/verified_followers"], a[href$="/followers"]',
    statusLink: 'a[href*="/status/"]',
  };

  // X handles: 1-15 of [A-Za-z0-9_]. Paths that look like handles but are app routes.
  const HANDLE_RE = /^[A-Za-z0-9_]{1,15}$/;
  const RESERVED = new Set([
    "home", "explore", "notifications", "messages", "i", "settings", "search", "compose",
    "login", "logout", "signup", "tos", "privacy", "jobs", "lists", "bookmarks", "communities",
  ]);

  function handleFromPath(pathname) {
    const first = String(pathname || "").split("/").filter(Boolean)[0] || "";
    return HANDLE_RE.test(first) && !RESERVED.has(first.toLowerCase()) ? first.toLowerCase() : null;
  }

  function statusIdFromPath(pathname) {
    const m = /\/status\/(\d{1,25})(?:[/?#]|$)/.exec(String(pathname || ""));
    return m ? m[1] : null;
  }

  function pathOf(anchor) {
    try {
      return new URL(anchor.getAttribute("href"), "https://x.com/").pathname;
    } catch (_) {
      return "";
    }
  }

  /** The author of one User-Name block: its first single-segment profile link, else the "@handle" text. */
  function handleFromUserName(userNameEl) {
    for (const a of userNameEl.querySelectorAll("a[href]")) {
      const path = pathOf(a);
      if (path.split("/").filter(Boolean).length === 1) {
        const h = handleFromPath(path);
        if (h) return h;
      }
    }
    // Quoted posts render the author as plain spans (the whole card is one link).
    const m = /@([A-Za-z0-9_]{1,15})\b/.exec(userNameEl.textContent || "");
    return m ? m[1].toLowerCase() : null;
  }

  /**
   * The post's id: its own timestamp link, else, on a post's own page, the id in the location
   * (the focal post may show its time unlinked) when the article's author is the one in the path.
   */
  function postIdOf(article, userNameEl, locationPath, handle) {
    const time = (userNameEl && userNameEl.querySelector("time")) || article.querySelector("time");
    const link = time && time.closest(S.statusLink);
    if (link && article.contains(link)) {
      const id = statusIdFromPath(pathOf(link));
      if (id) return id;
    }
    return handle && handleFromPath(locationPath) === handle ? statusIdFromPath(locationPath) : null;
  }

  /**
   * Each post in `article` with its author(s): the outer post first, then quoted posts.
   * Returns [{nameEl, handle, postId, quoted}]; postId is null for quoted posts whose id
   * the markup does not expose.
   */
  function postsIn(article, locationPath) {
    const names = Array.from(article.querySelectorAll(S.userName)).filter(
      (el) => el.closest(S.tweet) === article,
    );
    const out = [];
    names.forEach((nameEl, i) => {
      const handle = handleFromUserName(nameEl);
      if (!handle) return;
      if (i === 0) {
        out.push({ nameEl, handle, postId: postIdOf(article, nameEl, locationPath, handle), quoted: false });
      } else {
        const link = nameEl.closest(S.statusLink) || nameEl.querySelector(S.statusLink);
        out.push({ nameEl, handle, postId: link ? statusIdFromPath(pathOf(link)) : null, quoted: true });
      }
    });
    return out;
  }

  /** A profile page's header: {handle, followersLink}, or null when this is not a profile page. */
  function profileIn(doc, locationPath) {
    const header = doc.querySelector(S.profileHeader);
    if (!header) return null;
    const link = doc.querySelector(S.followersLink);
    const handle = (link && handleFromPath(pathOf(link))) || handleFromPath(locationPath) || handleFromUserName(header);
    return handle ? { handle, header, followersLink: link } : null;
  }

  /** The row of reply / repost / like buttons of this article (not of a quoted post inside it). */
  function actionBarOf(article) {
    return Array.from(article.querySelectorAll(S.actionBar)).find((g) => g.closest(S.tweet) === article) || null;
  }

  // The content script's view of this site: the same interface as bsky.js and mastodon.js.
  const site = {
    platform: "x",
    S: { ...S, post: S.tweet },
    postsIn: (article, where) => postsIn(article, where.pathname),
    actionBarOf,
    badgeHost: (nameEl) => nameEl.firstElementChild || nameEl,
    profileIn: (doc, where) => profileIn(doc, where.pathname),
    postText: (article) => article.querySelector(S.tweetText),
  };
  const api = { S, handleFromPath, statusIdFromPath, handleFromUserName, postIdOf, postsIn, profileIn, actionBarOf, site };
  root.MeritSelectors = api;
  root.MeritSite = site;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
