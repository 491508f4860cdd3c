"""Where the engine's passes run: in this process over one partition, or on a Dask cluster over many.

The full refit (`MeritEngine.fit`) is written once, as stages over a partition of votes: every
vote of a set of authors (an author's votes never span two partitions), with the voters' global
index. A stage reads and extends its partition's state and returns something small (per-voter
partial sums, per-author figures); the engine combines those and broadcasts what the next stage
needs. `Local` holds everything as one partition in this process (the embedded default: `make
run`, tests, small deployments); `OnDask` keeps the partitions on the workers of a Dask cluster
(`distributed`), so the votes never travel back and only small vectors cross the network.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

import numpy as np

from .types import VoteData, narrow


def own_voters(voter: np.ndarray, voter_ids: np.ndarray, voter_joined: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a voter table (sorted ids, join times) for the voters of `voter` only. A partition
    carries its own voters' rows, not the global table: every spilled partition is written to disk
    with its own copy of whatever it holds, and at 100M votes (5M voters, 50 partitions) the global
    table is 80 MB a partition against 27 MB for its own voters."""
    if not len(voter_ids):
        return voter_ids, voter_joined
    mine = np.unique(voter)
    return mine, voter_joined[np.searchsorted(voter_ids, mine)]


def split_by_author(data: VoteData, n_parts: int) -> tuple[list[VoteData], list[np.ndarray]]:
    """The votes in `n_parts` partitions of whole authors (by author id modulo n_parts), each with its
    own voters' rows of the voter table (`own_voters`) and every claim, its ids 4-byte where they fit
    (`types.narrow`); and each partition's positions in `data`."""
    key = data.author % n_parts
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(n_parts + 1))
    solicited = data.solicited_mask()
    has_solicited = len(data.solicited) == len(data)
    out, index = [], []
    for i in range(n_parts):
        idx = order[bounds[i]:bounds[i + 1]]
        index.append(idx)
        voter = narrow(data.voter[idx])
        out.append(VoteData(
            voter, narrow(data.author[idx]), narrow(data.post[idx]), data.value[idx], data.created[idx],
            *own_voters(voter, data.voter_ids, data.voter_joined), data.owned_author, data.owner_voter,
            solicited[idx] if has_solicited else np.empty(0, bool),
        ))
    return out, index


def _new_state(data: VoteData) -> dict:
    return {"data": data, "memo": {}}


def _apply(fn: Callable, state: dict, args: tuple, lean: bool = False):
    """Run a stage on one partition: (the partition's state, the stage's small result). `lean`: the
    engine's per-fit memo (index arrays it can recompute, ~80 bytes a vote) is dropped afterwards, so a
    partition kept between stages holds only what the next stages need (and spills that much less)."""
    out = fn(state, *args)
    if lean:
        state["memo"] = {}
    return state, out


def _nbytes(arg) -> int:
    """The array bytes of a stage argument: an array, or a dataclass of them (Credibility, GroupLinks)."""
    if isinstance(arg, np.ndarray):
        return arg.nbytes
    if hasattr(arg, "__dataclass_fields__"):
        return sum(_nbytes(getattr(arg, f)) for f in arg.__dataclass_fields__)
    return 0


def _apply_fold(fn: Callable, combine: Callable, state: dict, acc, args: tuple, lean: bool):
    """A stage on one partition, its result folded into `acc` (None: the first of a chain)."""
    state, out = _apply(fn, state, args, lean)
    return state, out if acc is None else combine(acc, out)


def _step_fold(fn: Callable, combine: Callable, handle, acc, *args):
    out = fn(handle, *args)
    return out if acc is None else combine(acc, out)


def _fold(combine: Callable, *results):
    out = results[0]
    for r in results[1:]:
        out = combine(out, r)
    return out


class Local:
    """Every vote in one partition, in this process."""

    voter_buckets = 1

    def __init__(self, data: VoteData):
        self.states = [_new_state(data)]

    def run(self, fn: Callable, *args) -> list:
        return [fn(state, *args) for state in self.states]

    def reduce(self, fn: Callable, combine: Callable, *args):
        """The partitions' results of a stage folded with `combine` (per-voter partial sums: one vector)."""
        return _fold(combine, *self.run(fn, *args))

    def derive(self, fn: Callable, *args) -> list:
        """Per partition, an object a stage makes and later steps reuse apart from the partition
        (the viewpoint fit's matrices): handles for `reduce_over`."""
        return self.run(fn, *args)

    def reduce_over(self, handles: list, fn: Callable, combine: Callable, *args):
        """fn(handle, *args) for each partition's derived object, folded with `combine`."""
        return _fold(combine, *(fn(h, *args) for h in handles))

    def release(self, handles: list) -> None:
        handles.clear()

    def by_voter(self, split: Callable, fn: Callable, *args, over: list | None = None) -> list:
        """fn(*args, *each partition's piece of bucket b) for each bucket of voters (`split(state,
        n_buckets)` is a partition's pieces, one per bucket; with `over`, split(handle, n_buckets) of each
        partition's derived object instead)."""
        pieces = [split(s, self.voter_buckets) for s in (self.states if over is None else over)]
        return [fn(*args, *(p[b] for p in pieces)) for b in range(self.voter_buckets)]

    def spawn(self, fn: Callable, *args) -> Local:
        """An executor over new partition states, fn(state, *args) of each of these: a pass with state of
        its own (group detection) then runs its steps without touching the partitions' states."""
        ex = Local.__new__(Local)
        ex.states = [fn(s, *args) for s in self.states]
        return ex

    def close(self) -> None:
        self.states = []


class OnDask:
    """The partitions on a Dask cluster's workers; stages run where their partition lives.

    Large broadcast arguments (per-voter vectors) are scattered once per stage to every worker.
    """

    BROADCAST_BYTES = 1 << 20

    def __init__(self, client, data: VoteData, n_parts: int):
        """`data` split by author into `n_parts` partitions, sent to the workers from here."""
        parts, self.index = split_by_author(data, max(1, n_parts))
        futures = client.scatter(parts)
        del parts
        self._hold(client, futures)

    @classmethod
    def holding(cls, client, partitions: list) -> OnDask:
        """Over partitions already on the workers (futures of VoteData, whole authors each, split by
        split_by_author's rule, every one with the global voter tables)."""
        ex = cls.__new__(cls)
        ex._hold(client, partitions)
        return ex

    def spawn(self, fn: Callable, *args) -> OnDask:
        """As Local.spawn: each new state made where its partition lives, and kept apart from it, so that
        the new pass's steps read (and, when spilled, load back from disk) only their own state, not
        the whole partition (at 100M votes the partitions are twice the workers' memory)."""
        shipped = tuple(self._ship(a) for a in args)
        ex = OnDask.__new__(OnDask)
        ex.client, ex.voter_buckets = self.client, self.voter_buckets
        states: list = [None] * len(self.states)
        for i in self._sweep(len(self.states)):
            states[i] = self.client.submit(fn, self.states[i], *shipped, pure=False)
        ex.states = states
        return ex

    def _hold(self, client, futures: list) -> None:
        self.client = client
        self.voter_buckets = max(1, len(futures))
        self.states = [client.submit(_new_state, f, pure=False) for f in futures]

    lean = True  # drop each partition's memo after every stage (see _apply)
    _forward = False

    def _sweep(self, n: int) -> list[int]:
        """The order of the partitions in the next pass: forward and backward in turn. Tasks run in the
        order they are submitted, and a worker whose partitions do not all fit in its memory keeps the
        last ones it touched (the spill is least recently used first): a pass in the same order as the
        one before finds none of its first partitions in memory and loads every one back from disk,
        while a pass in the other order starts with those still in memory."""
        self._forward = not self._forward
        return list(range(n)) if self._forward else list(range(n - 1, -1, -1))

    def _ship(self, arg):
        # Per-voter vectors (and the Credibility holding them) go to each worker once, not with every task.
        if _nbytes(arg) >= self.BROADCAST_BYTES:
            return self.client.scatter(arg, broadcast=True, hash=False)
        return arg

    def submit(self, fn: Callable, *args) -> list:
        """A stage on every partition; futures of its results (the partitions' states move on)."""
        shipped = tuple(self._ship(a) for a in args)
        order = self._sweep(len(self.states))
        pairs = dict.fromkeys(order)
        for i in order:
            pairs[i] = self.client.submit(_apply, fn, self.states[i], shipped, self.lean, pure=False)
        self.states = [self.client.submit(operator.getitem, pairs[i], 0, pure=False) for i in range(len(order))]
        return [self.client.submit(operator.getitem, pairs[i], 1, pure=False) for i in range(len(order))]

    def run(self, fn: Callable, *args) -> list:
        return self.client.gather(self.submit(fn, *args))

    def reduce(self, fn: Callable, combine: Callable, *args):
        """As `run`, folded with `combine` first on each worker, then here over one result per worker: a
        stage's per-voter vectors (millions of voters) cross the network once per worker, not once per
        partition. On each worker the partitions run one after another, each folding its result into
        the worker's running total: a per-voter result is 120 MB at 5M voters, and folding a worker's 25
        partitions' results in one task held 3 GB and took the worker over its 4 GB limit (100M votes)."""
        shipped = tuple(self._ship(a) for a in args)
        totals: dict = {}
        states = list(self.states)
        where = self._workers_of(self.states)
        for i in self._sweep(len(states)):
            w = where[i]
            on = {"workers": [w], "allow_other_workers": True} if w else {}
            pair = self.client.submit(_apply_fold, fn, combine, states[i], totals.get(w), shipped, self.lean,
                                      pure=False, **on)
            states[i] = self.client.submit(operator.getitem, pair, 0, pure=False, **on)
            totals[w] = self.client.submit(operator.getitem, pair, 1, pure=False, **on)
        self.states = states
        return _fold(combine, *self.client.gather(list(totals.values())))

    def derive(self, fn: Callable, *args) -> list:
        """Per partition, an object a stage makes and later steps reuse apart from the partition (the
        viewpoint fit's matrices), kept on its worker: iterating over these does not touch (or unspill)
        the partitions' states."""
        return self.submit(fn, *args)

    def reduce_over(self, handles: list, fn: Callable, combine: Callable, *args):
        """fn(handle, *args) for each derived object, folded as `reduce` folds (a running total per worker)."""
        shipped = tuple(self._ship(a) for a in args)
        totals: dict = {}
        where = self._workers_of(handles)
        for i in self._sweep(len(handles)):
            w = where[i]
            on = {"workers": [w], "allow_other_workers": True} if w else {}
            totals[w] = self.client.submit(_step_fold, fn, combine, handles[i], totals.get(w), *shipped, pure=False, **on)
        return _fold(combine, *self.client.gather(list(totals.values())))

    def release(self, handles: list) -> None:
        self.client.cancel(handles)
        handles.clear()

    def _workers_of(self, futures: list) -> list:
        """Where each future's value lives (None: nowhere yet or anywhere), once they exist."""
        from distributed import wait

        wait(futures)
        where = self.client.who_has(futures)
        return [next(iter(where.get(f.key) or (None,))) for f in futures]

    def by_voter(self, split: Callable, fn: Callable, *args, over: list | None = None) -> list:
        """Each bucket of voters on a worker: its pieces move there from every partition (a shuffle).
        Each partition is split once, where it lives, into all its buckets' pieces: one task per
        bucket and partition touched (and, when spilled, read back) the whole partition each time, and
        at 100M votes in 50 partitions that was 2,500 reads of a partition from disk. With `over` (derived
        objects, see Local.by_voter), the partitions are not touched at all."""
        shipped = tuple(self._ship(a) for a in args)
        B = self.voter_buckets
        sources = self.states if over is None else over
        pieces: list = [None] * len(sources)
        for i in self._sweep(len(sources)):
            whole = self.client.submit(split, sources[i], B, pure=False)
            pieces[i] = [self.client.submit(operator.getitem, whole, b, pure=False) for b in range(B)]
            del whole
        futures = [self.client.submit(fn, *shipped, *(p[b] for p in pieces), pure=False) for b in range(B)]
        del pieces
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.cancel(self.states)
        self.states = []
