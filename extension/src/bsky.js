/*
 * Every bsky.app selector and DOM-reading rule. bsky.app is React Native Web: class names are
 * generated, so only data-testid hooks and link shapes are read (/profile/<handle>/post/<rkey>).
 *
 * Classic script: defines globalThis.MeritSite (the content script's view of this site) and
 * module.exports for `node --test`. The same interface as selectors.js (x.com) and mastodon.js.
 */
(function (root) {
  "use strict";

  const S = {
    post: '[data-testid^="feedItem-by-"], [data-testid^="postThreadItem-by-"]',
    postText: '[data-testid="postText"]',
    like: '[data-testid="likeBtn"]',
    reply: '[data-testid="replyBtn"]',
    profileLink: 'a[href^="/profile/"]',
    followers: '[data-testid="profileHeaderFollowersButton"]',
    profileName: '[data-testid="profileHeaderDisplayName"]',
  };

  // A handle (a domain name) or a DID, as the server's Bluesky grammar has them; record keys.
  const HANDLE_RE = /^(?:[a-z0-9.-]{3,253}|did:plc:[a-z2-7]{24}|did:web:[a-z0-9.-]{1,245})$/;
  const RKEY_RE = /^[a-z0-9]{5,32}$/;

  function pathOf(anchor) {
    try {
      return new URL(anchor.getAttribute("href"), "https://bsky.app/").pathname;
    } catch (_) {
      return "";
    }
  }

  /** {handle, postId} from /profile/<handle>[/post/<rkey>]; postId is null for a profile path. */
  function parsePath(pathname) {
    const parts = String(pathname || "").split("/").filter(Boolean);
    if (parts[0] !== "profile" || !parts[1]) return null;
    const handle = decodeURIComponent(parts[1]).toLowerCase();
    if (!HANDLE_RE.test(handle)) return null;
    if (parts.length === 2) return { handle, postId: null };
    if (parts[2] === "post" && RKEY_RE.test(parts[3] || "") && parts.length <= 4) return { handle, postId: parts[3] };
    return null;
  }

  /** The item's author: the handle in its data-testid (feedItem-by-<handle>), else its first profile link. */
  function handleOf(item) {
    const m = /-by-(.+)$/.exec(item.getAttribute("data-testid") || "");
    const fromId = m && m[1].toLowerCase();
    if (fromId && HANDLE_RE.test(fromId)) return fromId;
    for (const a of item.querySelectorAll(S.profileLink)) {
      const ref = parsePath(pathOf(a));
      if (ref && !ref.postId) return ref.handle;
    }
    return null;
  }

  /** The author's name link (where the badge goes): a link to their profile with visible text. */
  function nameLinkOf(item, handle) {
    for (const a of item.querySelectorAll(S.profileLink)) {
      if (a.closest(S.post) !== item) continue;
      const ref = parsePath(pathOf(a));
      if (ref && !ref.postId && ref.handle === handle && (a.textContent || "").trim()) return a;
    }
    return null;
  }

  /** The post's record key: its own link (the timestamp), else, on a thread page, the address's. */
  function postIdOf(item, handle, locationPath) {
    for (const a of item.querySelectorAll('a[href*="/post/"]')) {
      if (a.closest(S.post) !== item) continue;
      const ref = parsePath(pathOf(a));
      if (ref && ref.postId && ref.handle === handle) return ref.postId;
    }
    const here = parsePath(locationPath);
    const focal = (item.getAttribute("data-testid") || "").startsWith("postThreadItem-by-");
    return here && here.postId && focal && here.handle === handle ? here.postId : null;
  }

  /** [{nameEl, handle, postId, quoted}] for one feed or thread item (quoted posts are left alone here). */
  function postsIn(item, where) {
    const handle = handleOf(item);
    if (!handle) return [];
    const nameEl = nameLinkOf(item, handle);
    if (!nameEl) return [];
    return [{ nameEl, handle, postId: postIdOf(item, handle, where.pathname), quoted: false }];
  }

  /** The row of reply / repost / like buttons: the nearest ancestor of Like that also holds Reply. */
  function actionBarOf(item) {
    const like = item.querySelector(S.like);
    for (let el = like && like.parentElement; el && el !== item; el = el.parentElement) {
      if (el.querySelector(S.reply)) return el;
    }
    return null;
  }

  // The badge sits right after the name link, in the link's row (badgeHost).
  function badgeHost(nameEl) {
    return nameEl.parentElement || nameEl;
  }

  function placeBadge(nameEl, badge) {
    nameEl.after(badge);
  }

  /** A profile page's header: {handle, header, followersLink}, or null elsewhere. */
  function profileIn(doc, where) {
    const header = doc.querySelector(S.profileName);
    const ref = parsePath(where.pathname);
    if (!header || !ref || ref.postId) return null;
    return { handle: ref.handle, header, followersLink: doc.querySelector(S.followers) };
  }

  const api = {
    platform: "bluesky", S, parsePath, handleOf, postIdOf, postsIn, actionBarOf, badgeHost, placeBadge, profileIn,
    postText: (item) => item.querySelector(S.postText),
  };
  root.MeritSite = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
