"use strict";
/* The per-site modules' parsing rules (bsky.js, mastodon.js); the browser tests cover their selectors on fixture pages. */
const test = require("node:test");
const assert = require("node:assert/strict");
const bsky = require("../src/bsky.js");
const mastodon = require("../src/mastodon.js");
const x = require("../src/selectors.js");

test("every site module offers the same interface to the content script", () => {
  for (const site of [bsky, mastodon, x.site]) {
    assert.ok(["x", "bluesky", "mastodon"].includes(site.platform));
    assert.equal(typeof site.S.post, "string");
    for (const fn of ["postsIn", "actionBarOf", "badgeHost", "profileIn", "postText"]) assert.equal(typeof site[fn], "function", fn);
  }
});

test("bsky: profile and post paths give the author (lower-cased) and the record key", () => {
  assert.deepEqual(bsky.parsePath("/profile/Alice.bsky.social"), { handle: "alice.bsky.social", postId: null });
  assert.deepEqual(bsky.parsePath("/profile/alice.bsky.social/post/3kq2abcxyz"), { handle: "alice.bsky.social", postId: "3kq2abcxyz" });
  assert.deepEqual(bsky.parsePath("/profile/did:plc:z72i7hdynmk6r22z27h6tvur/post/3kq2abcxyz"),
    { handle: "did:plc:z72i7hdynmk6r22z27h6tvur", postId: "3kq2abcxyz" });
  assert.equal(bsky.parsePath("/profile/alice.bsky.social/post/3kq2abcxyz/liked-by"), null);
  assert.equal(bsky.parsePath("/profile/alice.bsky.social/post/NOTAKEY!"), null);
  assert.equal(bsky.parsePath("/search?q=x"), null);
  assert.equal(bsky.parsePath("/profile/a b/post/3kq2abcxyz"), null);
});

function fakeItem(testid, links = []) {
  const item = {
    getAttribute: (name) => (name === "data-testid" ? testid : null),
    querySelectorAll: () => links.map((href) => ({ getAttribute: () => href, closest: () => item, textContent: "x" })),
  };
  return item;
}

test("bsky: an item's author comes from its data-testid, else from its first profile link", () => {
  assert.equal(bsky.handleOf(fakeItem("feedItem-by-Good.bsky.social")), "good.bsky.social");
  assert.equal(bsky.handleOf(fakeItem("feedItem-by-", ["/profile/bob.example.com/post/3kaaaaa", "/profile/bob.example.com"])), "bob.example.com");
  assert.equal(bsky.handleOf(fakeItem("feedItem-by-", [])), null);
});

test("bsky: the post id is the item's own post link, or on a thread page the address's for the focal post", () => {
  const inFeed = fakeItem("feedItem-by-a.bsky.social", ["/profile/a.bsky.social", "/profile/a.bsky.social/post/3kaaaaa1"]);
  assert.equal(bsky.postIdOf(inFeed, "a.bsky.social", "/"), "3kaaaaa1");
  const focal = fakeItem("postThreadItem-by-a.bsky.social", ["/profile/a.bsky.social"]);
  assert.equal(bsky.postIdOf(focal, "a.bsky.social", "/profile/a.bsky.social/post/3kfocal1"), "3kfocal1");
  assert.equal(bsky.postIdOf(focal, "a.bsky.social", "/profile/other.bsky.social/post/3kfocal1"), null);
  // A quoted post's link (another author) is not this post's id.
  const quoting = fakeItem("feedItem-by-a.bsky.social", ["/profile/b.bsky.social/post/3kquoted"]);
  assert.equal(bsky.postIdOf(quoting, "a.bsky.social", "/"), null);
});

test("mastodon: an account line is user@instance, a local account taking this instance's host", () => {
  assert.equal(mastodon.handleFromAccount("@alice", "Mastodon.Social"), "alice@mastodon.social");
  assert.equal(mastodon.handleFromAccount(" @Bob@Fosstodon.org ", "mastodon.social"), "bob@fosstodon.org");
  assert.equal(mastodon.handleFromAccount("@dot.ted@social.example.co.uk", "x.y"), "dot.ted@social.example.co.uk");
  assert.equal(mastodon.handleFromAccount("Alice (she/her)", "mastodon.social"), null);
  assert.equal(mastodon.handleFromAccount("@alice@localhost", "mastodon.social"), null);
});

test("mastodon: a post is this instance's host and status id, as Merit stores it", () => {
  assert.equal(mastodon.postId("Mastodon.Social", "109876543210"), "mastodon.social:109876543210");
  assert.equal(mastodon.postId("mastodon.social", "abc"), null);
  assert.deepEqual(mastodon.parseStatusPath("/@alice/109876543210", "mastodon.social"),
    { handle: "alice@mastodon.social", statusId: "109876543210" });
  assert.deepEqual(mastodon.parseStatusPath("/@bob@fosstodon.org/12/embed", "mastodon.social"),
    { handle: "bob@fosstodon.org", statusId: "12" });
  assert.equal(mastodon.parseStatusPath("/@alice", "mastodon.social"), null);
});
