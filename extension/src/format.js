/*
 * Pure presentation rules for a reputation answer: label, colour band and tooltip.
 * Classic script shared by the content script and `node --test`.
 */
(function (root) {
  "use strict";

  const STATUS_WORDS = {
    insufficient_data: "not enough votes yet",
    provisional: "provisional",
    established: "established",
    under_review: "under review",
    contested: "contested: many votes from accounts without a record",
  };

  function round(x) {
    return Math.round(Number(x));
  }

  /** "1 vote", "12 votes", "1,204 votes": counts as people write them. */
  function count(n, word, plural) {
    const k = Number(n) || 0;
    return `${k.toLocaleString("en-US")} ${k === 1 ? word : plural || word + "s"}`;
  }

  /** "72", "new" (too few votes) or "—" (unknown to Merit). */
  function label(author) {
    if (!author) return "—";
    if (author.status === "insufficient_data" || author.score == null) return "new";
    return String(round(author.score));
  }

  /** Colour band by score; grey when there is nothing to judge by. */
  function band(author) {
    if (!author || author.status === "insufficient_data" || author.score == null) return "none";
    if (author.score >= 65) return "high";
    if (author.score >= 45) return "mid";
    return "low";
  }

  function explanationSummary(ex) {
    if (!ex || typeof ex !== "object") return "";
    if (typeof ex.summary === "string") return ex.summary;
    const parts = [];
    if (ex.effective_voters != null) {
      const n = Number(ex.effective_voters);
      parts.push(n < 0.95 ? "evidence of less than one independent voter" : `evidence of about ${count(round(n), "independent voter")}`);
    }
    const d = ex.discounted || {};
    const discounted = Number(d.new_or_low_credibility_accounts || 0) + Number(d.per_voter_cap || 0);
    if (discounted >= 0.05) {
      const worth = discounted < 0.95 ? "less than one vote" : `about ${count(round(discounted), "vote")}`;
      parts.push(`${worth} held back (new accounts, or one person rating many posts)`);
    }
    return parts.join("; ");
  }

  function tooltip(handle, author) {
    if (!author) return `Merit: @${handle} has no votes on Merit yet`;
    const lines = [`Merit reputation for @${author.handle || handle}: ${label(author)} (${STATUS_WORDS[author.status] || author.status})`];
    if (author.status !== "insufficient_data" && author.low != null && author.high != null) {
      lines.push(`90% interval ${round(author.low)}–${round(author.high)}`);
    }
    lines.push(`${count(author.votes ?? (author.upvotes || 0) + (author.downvotes || 0), "vote")} (${(author.upvotes || 0).toLocaleString("en-US")} good, ${(author.downvotes || 0).toLocaleString("en-US")} poor) from ${count(author.voters, "voter")}`);
    const why = explanationSummary(author.explanation);
    if (why) lines.push(why);
    if (author.follower_count != null) lines.push(`${Number(author.follower_count).toLocaleString("en-US")} followers`);
    return lines.join("\n");
  }

  const api = { label, band, tooltip, explanationSummary };
  root.MeritFormat = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
