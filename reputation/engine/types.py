"""The data the engine takes and gives: parallel NumPy arrays, no ORM."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DAY = 86400.0
# A group id carries its group's size: id = size * GROUP_ID_STRIDE + index. The per-author
# refresh loads only the members who voted on that author, yet needs the whole group's size
# (a large group is discounted); the id travels in the stored flags unchanged. Ids stored
# before this encoding (< stride) read as size 0, i.e. no size discount, until the next refit.
GROUP_ID_STRIDE = 1 << 20


def group_ids(label: np.ndarray) -> np.ndarray:
    """Group ids from component labels (-1 = none), each carrying its group's size."""
    label = np.asarray(label, np.int64)
    out = np.full(len(label), -1, np.int64)
    ok = label >= 0
    if ok.any():
        out[ok] = np.bincount(label[ok])[label[ok]] * GROUP_ID_STRIDE + label[ok]
    return out


def group_size(group: np.ndarray) -> np.ndarray:
    """Size of each voter's group as encoded in its id (0 = not in a group, or a legacy id)."""
    return np.where(group >= 0, group // GROUP_ID_STRIDE, 0)


def _ints():
    return np.empty(0, np.int64)


def narrow(ids: np.ndarray) -> np.ndarray:
    """Non-negative ids as 4-byte integers where they fit: what a partition kept between stages holds (at
    100M votes the partitions are twice the workers' memory, and every byte a vote spills). Arithmetic on
    them widens to int64 first (`ids.astype(np.int64) * n`): an int32 times a Python int stays int32."""
    return ids.astype(np.int32) if len(ids) and ids.dtype.itemsize > 4 and ids.max() < 2**31 else ids


def unique_inverse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(x, return_inverse=True)`, the same arrays. Ids of a range not much wider than their count
    (authors, posts, tokens of one partition) are found in a presence table instead of by a sort: 0.05 s
    against 2.5 s for 10M ids of 100k values (measured, numpy 2.3); other values take np.unique."""
    if len(x) and x.dtype.kind in "iu":
        hi = int(x.max())
        if hi < max(4 * len(x), 1 << 20) and int(x.min()) >= 0:
            present = np.zeros(hi + 1, bool)
            present[x] = True
            return np.flatnonzero(present).astype(x.dtype), (np.cumsum(present) - 1)[x]
    return np.unique(x, return_inverse=True)


def _floats():
    return np.empty(0, np.float64)


@dataclass
class VoteData:
    """Votes as parallel arrays, plus each voter's join time (epoch seconds).

    `owned_author` / `owner_voter` pair each claimed author with the voter account
    that owns it (optional): a detected group's votes on its own members' posts
    then count for nothing. `solicited` (optional) marks votes Merit asked for.
    """

    voter: np.ndarray  # int64 voter id per vote
    author: np.ndarray  # int64 author id per vote
    post: np.ndarray  # int64 post id per vote
    value: np.ndarray  # int8, +1 / -1
    created: np.ndarray  # float64 epoch seconds
    voter_ids: np.ndarray = field(default_factory=_ints)  # sorted unique
    voter_joined: np.ndarray = field(default_factory=_floats)
    owned_author: np.ndarray = field(default_factory=_ints)
    owner_voter: np.ndarray = field(default_factory=_ints)
    # Per vote, True when Merit chose the post for the voter ("Rate next"): the voter could not
    # direct it. Empty means no vote was solicited (data without the column).
    solicited: np.ndarray = field(default_factory=lambda: np.empty(0, bool))

    def solicited_mask(self) -> np.ndarray:
        return self.solicited.astype(bool) if len(self.solicited) == len(self.value) else np.zeros(len(self.value), bool)

    def __len__(self) -> int:
        return len(self.value)

    def __sizeof__(self) -> int:
        """The arrays' bytes: what Dask's memory manager counts (sys.getsizeof) when it decides what to spill."""
        return object.__sizeof__(self) + sum(
            getattr(self, f).nbytes for f in self.__dataclass_fields__ if isinstance(getattr(self, f), np.ndarray))


@dataclass
class GroupLinks:
    """The links inside the detected groups, so each author sees only the group its own voters form.

    Verified pairs (voter ids), and the members of dense blocks of targets (voter ids) with their
    block id. See groups.induced_groups.
    """

    edge_u: np.ndarray = field(default_factory=_ints)
    edge_v: np.ndarray = field(default_factory=_ints)
    member: np.ndarray = field(default_factory=_ints)
    member_block: np.ndarray = field(default_factory=_ints)

    ARRAYS = ("edge_u", "edge_v", "member", "member_block")

    def by_voter(self) -> GroupLinks:
        """The same links, the pairs sorted by their first voter and the block members by voter: what `among`
        reads (sorted once per refit and refreshing process, then sliced per author)."""
        by_u, by_m = np.argsort(self.edge_u, kind="stable"), np.argsort(self.member, kind="stable")
        return GroupLinks(self.edge_u[by_u], self.edge_v[by_u], self.member[by_m], self.member_block[by_m])

    def among(self, voters: np.ndarray) -> GroupLinks:
        """Only the links among `voters` (sorted ids; what one author's refresh needs), of links sorted by
        `by_voter`: a binary search per voter, not a pass over every link (np.isin over all of them cost 5 ms
        per heaviest refresh even with none, and the links grow with the world's groups)."""
        pair = _runs_of(self.edge_u, voters)
        if len(pair):
            v = self.edge_v[pair]
            at = np.minimum(np.searchsorted(voters, v), len(voters) - 1)
            pair = pair[voters[at] == v]
        mem = _runs_of(self.member, voters)
        return GroupLinks(self.edge_u[pair], self.edge_v[pair], self.member[mem], self.member_block[mem])


def _runs_of(sorted_keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions in `sorted_keys` of every key equal to one of `ids`."""
    lo, hi = np.searchsorted(sorted_keys, ids, "left"), np.searchsorted(sorted_keys, ids, "right")
    n = hi - lo
    if not n.any():
        return np.empty(0, np.int64)
    lo, n = lo[n > 0], n[n > 0]
    # arange per run, concatenated: each run's start shifted by where it lands in the output
    return np.repeat(lo - np.cumsum(np.r_[0, n[:-1]]), n) + np.arange(int(n.sum()))


@dataclass(init=False)  # __init__ below: the optional columns default per voter, so are never None after it
class Credibility:
    """Per-voter state the full refit learns and the per-author refresh reuses.

    `credibility` is the voter's own weight in [0, 1] (earned age and history
    times competence). `group` is the co-voting group id (-1 = none; see
    `group_ids`: the id carries the group's size): a group counts as about one
    voice per post, less for a large group, and is capped per author. `side` is the
    voter's viewpoint in [-1, 1] from the bridging factor (0 = unknown).
    `proven` is the voter's earned record in [0, 1] (predictions that came true; see
    trust.py): the votes of accounts without one share a bounded pool per author.
    `changed` is when the voter's behaviour changed (epoch seconds, inf = never): its votes
    from then on do not carry its record. `flags(i)` gives the JSON to persist in
    VoterCredibility.flags.
    """

    voter_ids: np.ndarray  # sorted
    credibility: np.ndarray  # in [0, 1]
    group: np.ndarray  # int64, -1 = not in a group
    side: np.ndarray  # float in [-1, 1]
    proven: np.ndarray  # in [0, 1]; stored rows from before it read as 1
    changed: np.ndarray  # epoch seconds, inf = never
    # How the groups hang together (see GroupLinks); None: whole groups count on every author.
    links: GroupLinks | None = None
    # How much more the world's posts scatter than one rate per author would (>= 1; widens every
    # interval). None: `score` estimates it from the votes it is given.
    dispersion: float | None = None

    def __init__(
        self, voter_ids: np.ndarray, credibility: np.ndarray, group: np.ndarray | None = None,
        side: np.ndarray | None = None, proven: np.ndarray | None = None, changed: np.ndarray | None = None,
        links: GroupLinks | None = None, dispersion: float | None = None,
    ):
        n = len(voter_ids)
        self.voter_ids, self.credibility, self.links, self.dispersion = voter_ids, credibility, links, dispersion
        self.group = np.full(n, -1, np.int64) if group is None else group
        self.side = np.zeros(n) if side is None else side
        self.proven = np.ones(n) if proven is None else proven
        self.changed = np.full(n, np.inf) if changed is None else changed

    def _index(self, voters: np.ndarray):
        if not len(self.voter_ids):
            return np.zeros(len(voters), np.int64), np.zeros(len(voters), bool)
        idx = np.minimum(np.searchsorted(self.voter_ids, voters), len(self.voter_ids) - 1)
        return idx, self.voter_ids[idx] == voters

    def lookup_all(self, voters: np.ndarray, default: float):
        """(credibility, group, side, proven, changed) of each voter, with one index search;
        unseen voters get `default` credibility, no group, a neutral side and no record."""
        idx, found = self._index(voters)
        some = len(self.voter_ids) > 0

        def pick(col, none):
            return np.where(found, col[idx] if some else none, none)

        return (pick(self.credibility, default), pick(self.group, -1), pick(self.side, 0.0),
                pick(self.proven, 0.0), pick(self.changed, np.inf))

    def lookup(self, voters: np.ndarray, default: np.ndarray | float) -> np.ndarray:
        """Credibility of each voter; `default` for voters the last refit has not seen."""
        out = np.array(np.broadcast_to(default, voters.shape), dtype=np.float64)
        idx, found = self._index(voters)
        out[found] = self.credibility[idx[found]]
        return out

    def lookup_group(self, voters: np.ndarray) -> np.ndarray:
        return self.lookup_all(voters, 0.0)[1]

    def flags(self, i: int) -> dict:
        changed = float(self.changed[i])
        return {"group": int(self.group[i]), "side": round(float(self.side[i]), 4),
                "proven": float(self.proven[i]), "changed": changed if np.isfinite(changed) else None}

    @classmethod
    def from_flags(cls, voter_ids: np.ndarray, credibility: np.ndarray, flags: list[dict]) -> Credibility:
        """Rebuild from stored rows (VoterCredibility.credibility, .flags)."""
        def col(key, none, dtype=np.float64):
            return np.array([none if not f or f.get(key) is None else f[key] for f in flags], dtype)

        return cls(np.asarray(voter_ids, np.int64), np.asarray(credibility, np.float64), col("group", -1, np.int64),
                   col("side", 0.0), col("proven", 1.0), col("changed", np.inf))


@dataclass
class AuthorScores:
    author_ids: np.ndarray
    score: np.ndarray  # 0-100, what rankings use
    low: np.ndarray  # 90% interval, 0-100
    high: np.ndarray
    upvotes: np.ndarray
    downvotes: np.ndarray
    voters: np.ndarray
    effective_voters: np.ndarray
    weight_up: np.ndarray
    weight_down: np.ndarray
    status: np.ndarray  # str
    explanations: list[dict]
    # Vote-equivalents removed because of co-voting groups (collapsed, own members, group cap):
    # when it rises between refits, a newly found group's past votes stopped counting.
    coordinated_discount: np.ndarray = field(default_factory=_floats)
    # Per post: quality 0-100 and raw counts.
    post_ids: np.ndarray = field(default_factory=_ints)
    post_quality: np.ndarray = field(default_factory=_floats)
    post_upvotes: np.ndarray = field(default_factory=_ints)
    post_downvotes: np.ndarray = field(default_factory=_ints)
