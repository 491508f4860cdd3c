"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const F = require("../src/format.js");
const S = require("../src/selectors.js");

test("labels: a rounded score, 'new' for too few votes, a dash for unknown authors", () => {
  assert.equal(F.label({ score: 72.5, status: "established" }), "73");
  assert.equal(F.label({ score: 50, status: "insufficient_data" }), "new");
  assert.equal(F.label(null), "—");
});

test("colour bands follow the score", () => {
  assert.equal(F.band({ score: 80, status: "established" }), "high");
  assert.equal(F.band({ score: 50, status: "provisional" }), "mid");
  assert.equal(F.band({ score: 20, status: "provisional" }), "low");
  assert.equal(F.band({ score: 90, status: "insufficient_data" }), "none");
});

test("the tooltip gives the interval, voters and the explanation", () => {
  const text = F.tooltip("alice", {
    handle: "alice", score: 71.2, low: 60.4, high: 80.9, status: "established", votes: 12, upvotes: 10, downvotes: 2,
    voters: 9, explanation: { effective_voters: 7.5, discounted: { new_or_low_credibility_accounts: 1.5, per_voter_cap: 0 } },
  });
  assert.match(text, /71 \(established\)/);
  assert.match(text, /90% interval 60–81/);
  assert.match(text, /12 votes \(10 good, 2 poor\) from 9 voters/);
  assert.match(text, /evidence of about 8 independent voters; about 2 votes held back/);
});

test("the tooltip counts as people write: one vote, one voter, no engine decimals", () => {
  const text = F.tooltip("bob", {
    handle: "bob", score: 55, low: 20, high: 90, status: "provisional", votes: 1, upvotes: 1, downvotes: 0,
    voters: 1, explanation: { effective_voters: 51.88 },
  });
  assert.match(text, /1 vote \(1 good, 0 poor\) from 1 voter(?!s)/);
  assert.match(text, /evidence of about 52 independent voters/);
  assert.doesNotMatch(text, /1 votes|51\.88/);
});

test("selectors read handles and post ids from x.com paths", () => {
  assert.equal(S.handleFromPath("/Good_Writer"), "good_writer");
  assert.equal(S.handleFromPath("/home"), null);
  assert.equal(S.handleFromPath("/i/bookmarks"), null);
  assert.equal(S.statusIdFromPath("/a/status/1790000000000000101/photo/1"), "1790000000000000101");
  assert.equal(S.statusIdFromPath("/a/likes"), null);
});
