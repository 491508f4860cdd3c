/*
 * Every Mastodon selector and DOM-reading rule (Mastodon 4's web interface, on any instance the
 * user granted in the options page). Class names there are stable BEM names (status__…).
 *
 * A status's author is user@instance: the "@user@domain" account line, where a local account shows
 * only "@user" (its domain is this instance's). A post is this instance's status id ("host:id"), the
 * form Merit stores for Mastodon.
 *
 * Classic script: defines globalThis.MeritSite and module.exports for `node --test`; the same
 * interface as selectors.js (x.com) and bsky.js.
 */
(function (root) {
  "use strict";

  const S = {
    post: ".status[data-id], .detailed-status",
    account: ".display-name__account",
    nameLink: ".status__display-name, .detailed-status__display-name",
    actionBar: ".status__action-bar, .detailed-status__action-bar",
    content: ".status__content",
    profileHeader: ".account__header",
    followersLink: '.account__header a[href$="/followers"]',
  };

  const USER = "[a-z0-9_](?:[a-z0-9_.-]{0,28}[a-z0-9_])?";
  const HOST = "(?:[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?\\.){1,4}[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?";
  const ACCOUNT_RE = new RegExp(`^@?(${USER})(?:@(${HOST}))?$`, "i");
  const STATUS_PATH_RE = new RegExp(`^/@(${USER})(?:@(${HOST}))?/(\\d{1,20})(?:/|$)`, "i");

  /** "user@instance" from an account line ("@user@domain", or "@user" on its own instance). */
  function handleFromAccount(text, host) {
    const m = ACCOUNT_RE.exec(String(text || "").trim());
    if (!m) return null;
    return `${m[1]}@${(m[2] || host).toLowerCase()}`.toLowerCase();
  }

  /** {handle, statusId} from this instance's /@user[@domain]/<id> path, or null. */
  function parseStatusPath(pathname, host) {
    const m = STATUS_PATH_RE.exec(String(pathname || ""));
    return m ? { handle: `${m[1]}@${(m[2] || host)}`.toLowerCase(), statusId: m[3] } : null;
  }

  function postId(host, statusId) {
    return /^\d{1,20}$/.test(String(statusId || "")) ? `${String(host).toLowerCase()}:${statusId}` : null;
  }

  /** The status id: the element's data-id, else (the focal status of a thread) the address's. */
  function statusIdOf(status, where, handle) {
    const own = status.getAttribute("data-id") || (status.closest("[data-id]") || { getAttribute: () => null }).getAttribute("data-id");
    if (own) return own;
    const here = parseStatusPath(where.pathname, where.hostname);
    return here && here.handle === handle ? here.statusId : null;
  }

  /** [{nameEl, handle, postId, quoted}] for one status (a boost shows the boosted author's status). */
  function postsIn(status, where) {
    const nameEl = status.querySelector(S.nameLink);
    const account = status.querySelector(S.account);
    if (!nameEl || !account || account.closest(S.post) !== status) return [];
    const handle = handleFromAccount(account.textContent, where.hostname);
    if (!handle) return [];
    return [{ nameEl, handle, postId: postId(where.hostname, statusIdOf(status, where, handle)), quoted: false }];
  }

  function actionBarOf(status) {
    const bar = status.querySelector(S.actionBar);
    return bar && bar.closest(S.post) === status ? bar : null;
  }

  // The badge sits right after the name link, in the link's row (badgeHost).
  function badgeHost(nameEl) {
    return nameEl.parentElement || nameEl;
  }

  function placeBadge(nameEl, badge) {
    nameEl.after(badge);
  }

  /** A profile page: {handle, header, followersLink}, or null elsewhere. */
  function profileIn(doc, where) {
    const header = doc.querySelector(S.profileHeader);
    if (!header) return null;
    const account = header.querySelector(".account__header__tabs__name small, " + S.account);
    const handle = account ? handleFromAccount(account.textContent, where.hostname) : null;
    return handle ? { handle, header, followersLink: doc.querySelector(S.followersLink) } : null;
  }

  const api = {
    platform: "mastodon", S, handleFromAccount, parseStatusPath, postId, postsIn, actionBarOf, badgeHost, placeBadge, profileIn,
    postText: (status) => status.querySelector(S.content),
  };
  root.MeritSite = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
