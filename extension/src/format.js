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
    if (ex.effective_voters != null) parts.push(`${ex.effective_voters} effective voters`);
    const d = ex.discounted || {};
    const discounted = Number(d.new_or_low_credibility_accounts || 0) + Number(d.per_voter_cap || 0);
    if (discounted > 0) parts.push(`${discounted.toFixed(1)} vote weight discounted (new or low-credibility accounts, per-voter cap)`);
    return parts.join("; ");
  }

  function tooltip(handle, author) {
    if (!author) return `Merit: @${handle} has no votes on Merit yet`;
    const lines = [`Merit reputation for @${author.handle || handle}: ${label(author)} (${STATUS_WORDS[author.status] || author.status})`];
    if (author.status !== "insufficient_data" && author.low != null && author.high != null) {
      lines.push(`90% interval ${round(author.low)}–${round(author.high)}`);
    }
    lines.push(`${author.votes ?? (author.upvotes || 0) + (author.downvotes || 0)} votes (${author.upvotes || 0} up, ${author.downvotes || 0} down) from ${author.voters || 0} voters`);
    const why = explanationSummary(author.explanation);
    if (why) lines.push(why);
    if (author.follower_count != null) lines.push(`${Number(author.follower_count).toLocaleString("en-US")} followers`);
    return lines.join("\n");
  }

  const api = { label, band, tooltip, explanationSummary };
  root.MeritFormat = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
