"""Reputation actions: mark an author for refresh, refresh one author, refit everyone."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from votes.models import Author, Vote, VoteEvent
from votes.signals import announce_authors_changed

from . import changes, data, data_write, leaderboard, refit_backend, refit_write
from .engine import AuthorScores, GroupLinks, get_engine, refit
from .engine.execution import Local, OnDask
from .models import (
    AuthorReputation,
    PendingRefresh,
    PostScore,
    RefitState,
    RefitStatePart,
    ReputationSnapshot,
    VoterCredibility,
)

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
BATCH = 5000
# Above this many rows a COPY into a temp table beats multi-row INSERTs (PostgreSQL only).
COPY_THRESHOLD = 20000
REP_FIELDS = [
    "score", "low", "high", "upvotes", "downvotes", "voters", "effective_voters",
    "weight_up", "weight_down", "status", "explanation", "algorithm", "updated_at",
]


def refresh_request(*, author_id: int) -> bool:
    """Record, inside the caller's transaction, that an author needs a refresh.

    Returns True when the author was not already pending, i.e. when the caller
    should enqueue a refresh; later votes before that refresh runs coalesce into it.
    """
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO reputation_pendingrefresh (author_id, version, marked_at, attempts) "
            "VALUES (%s, 1, %s, 0) ON CONFLICT (author_id) DO UPDATE "
            "SET version = reputation_pendingrefresh.version + 1 RETURNING version",
            [author_id, timezone.now()],
        )
        (version,) = cur.fetchone()
    return version == 1


def refresh_enqueue(author_id: int, countdown: float | None = None) -> bool:
    """Publish a refresh task; a broker failure is logged, never raised (the sweep re-queues)."""
    from django.conf import settings

    from .tasks import refresh_author

    try:
        refresh_author.apply_async(
            (author_id,),
            countdown=settings.REPUTATION_REFRESH_COUNTDOWN if countdown is None else countdown,
        )
        return True
    except Exception:  # broker down or hung: the outbox row keeps the work
        log.warning("could not enqueue refresh for author %s; the sweep will retry", author_id, exc_info=True)
        return False


def author_refresh(*, author_id: int, now: float | None = None) -> AuthorReputation | None:
    """Recompute one author from its votes with the latest credibilities; safe to run twice."""
    if not Author.objects.filter(pk=author_id).exists():
        PendingRefresh.objects.filter(author_id=author_id).delete()
        return None
    now = time.time() if now is None else now
    seen = PendingRefresh.objects.filter(author_id=author_id).values_list("version", flat=True).first()
    state = refit_state()
    votes, cred = data.load_author(author_id, state)
    scores = get_engine().score(votes, cred, now)
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if own_transaction and data.is_postgres():
            # Only derived rows and the outbox row change here, together: a server crash that loses
            # this commit leaves the outbox row, so the sweep runs the refresh again (and the next
            # full refit rewrites these rows anyway). So no wait for the WAL flush.
            # (Not inside a caller's transaction: that one may hold votes, which must be durable.)
            with connection.cursor() as cur:
                cur.execute("SET LOCAL synchronous_commit = off")
        rep = _write_one(author_id, scores, state)
        _replace_author_post_scores(author_id, scores)
        cleared = True
        if seen is not None:
            cleared = PendingRefresh.objects.filter(author_id=author_id, version=seen).delete()[0] == 1
        changes.changes_record([author_id])  # last: it holds the feed's sequence lock until commit
    announce_authors_changed([author_id])
    if not cleared and seen is not None:
        # New votes arrived while we computed, and their casts did not enqueue: do it now.
        transaction.on_commit(lambda: refresh_enqueue(author_id))
    return rep


def _replace_author_post_scores(author_id: int, scores: AuthorScores) -> None:
    """Upsert the author's post scores; delete those of its posts left without votes."""
    if data.is_postgres():
        data_write.write_author_post_scores(author_id, scores, timezone.now())
        return
    PostScore.objects.filter(post__author_id=author_id).exclude(post_id__in=scores.post_ids.tolist()).delete()
    _write_post_scores(scores)


def _write_one(author_id: int, scores: AuthorScores, state: dict | None) -> AuthorReputation:
    now = timezone.now()
    if len(scores.author_ids):
        values = _row_values(scores, 0, now)
        values["percentile"] = _percentile_of(author_id, values["score"], values["status"], state)
    else:  # every vote retracted
        values = {**_empty_values(), "updated_at": now, "percentile": None}
    # One INSERT ... ON CONFLICT DO UPDATE (update_or_create takes a savepoint and three more queries).
    rep = AuthorReputation(author_id=author_id, **values)
    AuthorReputation.objects.bulk_create(
        [rep], update_conflicts=True, unique_fields=["author"], update_fields=REP_FIELDS + ["percentile"]
    )
    return rep


def _empty_values() -> dict:
    fields = {f.name: f.get_default() for f in AuthorReputation._meta.fields if f.name in REP_FIELDS}
    return {**fields, "algorithm": get_engine().name}


def _row_values(scores: AuthorScores, i: int, now: datetime) -> dict:
    return {
        "score": float(scores.score[i]),
        "low": float(scores.low[i]),
        "high": float(scores.high[i]),
        "upvotes": int(scores.upvotes[i]),
        "downvotes": int(scores.downvotes[i]),
        "voters": int(scores.voters[i]),
        "effective_voters": float(scores.effective_voters[i]),
        "weight_up": float(scores.weight_up[i]),
        "weight_down": float(scores.weight_down[i]),
        "status": str(scores.status[i]),
        "explanation": scores.explanations[i],
        "algorithm": get_engine().name,
        "updated_at": now,
    }


def _percentile_of(author_id: int, score: float, status: str, state: dict | None) -> float | None:
    """Share of the other ranked authors scoring below this one: the full refit's rank / (n - 1).

    Ranked against the last refit's scores (a bisect); the table is counted only before the first refit.
    """
    if status == "insufficient_data":
        return None
    if state is None:
        others = AuthorReputation.objects.exclude(status="insufficient_data").exclude(author_id=author_id)
        total = others.count()
        return round(100.0 * others.filter(score__lt=score).count() / total, 1) if total else 100.0
    ids, scores = state["ranked_ids"], state["ranked_scores"]
    i = int(np.searchsorted(ids, author_id))
    own = i < len(ids) and ids[i] == author_id
    key = float(data.rank_key(np.float64(score)))
    below = int(np.searchsorted(state["ranked_sorted"], key, "left")) - int(own and data.rank_key(scores[i]) < key)
    total = len(ids) - int(own)
    return round(100.0 * below / total, 1) if total else 100.0


# The last refit's state, per process: {"token": ..., "arrays": {...}}.
_state_cache: dict = {}
STATE_ARRAYS = {"ranked_ids", "ranked_scores", "dispersion", *(f"link_{k}" for k in GroupLinks.ARRAYS)}


def refit_state() -> dict | None:
    """What the last full refit left every refresh (see `RefitState`), read once per refit and process;
    with "state_id", the key of the refit's packed voters (`AuthorVoterState`)."""
    latest = RefitState.objects.order_by("-id").values_list("id", "token").first()
    if latest is None:
        return None
    state_id, token = latest
    if _state_cache.get("token") != token:
        parts = RefitStatePart.objects.filter(state_id=state_id).order_by("part").values_list("data", flat=True)
        payload = b"".join(bytes(p) for p in parts)
        if not payload:  # a newer refit replaced it just now
            return None
        with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            if set(arrays.files) != STATE_ARRAYS:  # written by another version: use the tables
                return None
            lookup = data.refit_lookup({k: arrays[k] for k in arrays.files})
        _state_cache.update(token=token, arrays={**lookup, "state_id": state_id})
    return _state_cache["arrays"]


STATE_PART_BYTES = 128 << 20  # a part's INSERT carries it hex-encoded: 256 MB, well under PostgreSQL's 1 GB
# Authors with more voters than this get their voters' rows packed (AuthorVoterState): the tables' probes
# cost about 7 us a voter at 100M votes (17,000 voters in 90-145 ms), so about 7 ms here.
PACK_MIN_VOTERS = 1000


def _save_refit_state(arrays: dict, packed: list[tuple[int, bytes]] | None = None) -> int:
    """A new refit state (and on PostgreSQL the `packed` voters of heavy authors: data.pack_voters); its id.
    The states before it are for `_drop_refit_states_before`."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    payload = buf.getbuffer()
    with transaction.atomic():
        state = RefitState.objects.create()
        for i, start in enumerate(range(0, len(payload), STATE_PART_BYTES)):
            RefitStatePart.objects.create(state=state, part=i, data=bytes(payload[start:start + STATE_PART_BYTES]))
        if data.is_postgres() and packed:
            data.write_packed_voters(state.pk, packed)
    return state.pk


def _drop_refit_states_before(state_id: int) -> None:
    RefitState.objects.exclude(pk=state_id).filter(pk__lt=state_id).delete()


def recompute_all(*, refit_credibility: bool = True, progress: Progress | None = None, now: float | None = None,
                  backend: str | None = None, workers: int | None = None) -> dict:
    """Rebuild every credibility and reputation from the votes table, and snapshot today.

    The refit runs where `backend` (default settings.REFIT_BACKEND) says: see refit_backend. On
    PostgreSQL (outside a caller's transaction) each partition's scores are written where the partition
    is, by COPY on connections of its own, and only their ranking comes back here (`_write_in_partitions`)."""
    progress = progress or (lambda stage, done, total: None)
    now = time.time() if now is None else now
    started = timezone.now()
    timings: dict[str, float] = {}

    engine = get_engine()
    in_partitions = refit_credibility and data.is_postgres() and not connection.in_atomic_block
    # On the Dask backend over PostgreSQL the workers read the votes: `votes` is then only the voter
    # tables, which are all the write-back needs besides the engine's results.
    with refit_backend.cluster(backend if refit_credibility else "local", workers) as client:
        t = time.perf_counter()
        votes, on_dask, n_votes = refit_backend.load(client)
        timings["load"] = time.perf_counter() - t
        progress("load", n_votes, n_votes)
        ex: OnDask | Local | None = on_dask or (Local(votes) if in_partitions else None)
        t = time.perf_counter()
        try:
            if refit_credibility:
                cred, scores = engine.fit(votes, now, executor=ex, keep_scores=in_partitions)
            else:
                cred = data.load_credibility()
                state = refit_state()  # the last refit's post dispersion, as the per-author refreshes use it
                if state is not None and len(state["dispersion"]):
                    cred.dispersion = float(state["dispersion"][0])
                scores = engine.score(votes, cred, now)
            timings["compute"] = time.perf_counter() - t
            ranked = scores.ranked if in_partitions else scores.status != "insufficient_data"
            state = data.refit_arrays(scores, ranked, cred)
            heavy = scores.author_ids[scores.voters > PACK_MIN_VOTERS]
            t = time.perf_counter()
            if in_partitions:
                del votes  # the partitions hold them; here, at most the voter tables
                _write_in_partitions(ex, scores, ranked, cred, state, heavy, progress, started)
            else:
                packed = data.pack_voters(votes, cred, heavy) if data.is_postgres() else None
                del votes  # the engine's results are all the write-back needs; free the vote arrays
                _write_here(scores, cred, state, packed, refit_credibility, progress, started)
            timings["write"] = time.perf_counter() - t
        finally:
            if ex is not None:
                ex.close()
    changes.changes_record(None)
    leaderboard.ranking_create()
    announce_authors_changed(None)

    # Authors voted on while we computed may have been overwritten with older numbers: refresh them.
    touched = list(
        VoteEvent.objects.filter(at__gte=started).values_list("post__author_id", flat=True).distinct()
    )
    for author_id in touched:
        if refresh_request(author_id=author_id):
            refresh_enqueue(author_id)
    return {"votes": n_votes, "authors": len(scores.author_ids), "voters": len(cred.voter_ids), **timings}


def _write_in_partitions(ex, scored, ranked, cred, state, heavy, progress: Progress, started) -> None:
    """PostgreSQL: the refit state and the credibilities from here (on a connection of their own while the
    partitions write), and where each partition is its authors, posts, snapshots and its heavy authors'
    packed voters (refit_write), with their percentiles from here; then one merge a table. A refresh
    meanwhile finds the new state without some packed voters, and reads those voters from the tables."""
    state_id = _save_refit_state(state)
    now = timezone.now()
    pct = _percentile_ranks(scored.score[ranked])
    with refit_write.staging_tables() as tables, data.beside(data_write.write_credibility, cred, now, True):
        refit.write_back(ex, refit_write.stage_partition, data.worker_params(), tables, scored.author_ids[ranked], pct,
                         state_id, cred, heavy)
        refit_write.merge(tables, get_engine().name, now, started.date(),
                          {k: v for k, v in _empty_values().items() if k != "updated_at"})
    progress("credibility", len(cred.voter_ids), len(cred.voter_ids))
    _drop_refit_states_before(state_id)
    progress("authors", len(scored.author_ids), len(scored.author_ids))
    progress("posts", scored.posts, scored.posts)
    progress("snapshots", len(scored.author_ids), len(scored.author_ids))


def _write_here(scores: AuthorScores, cred, state, packed, refit_credibility: bool, progress: Progress,
                started) -> None:
    """SQLite, or inside a caller's transaction (other connections would not see its rows): every result
    written from here, on this connection."""
    with transaction.atomic():
        # The credibilities and the refit state (its packed voters) commit together.
        if refit_credibility:
            _write_credibility(cred, progress)
        _drop_refit_states_before(_save_refit_state(state, packed))
    _write_reputations(scores, progress)
    _replace_post_scores(scores)
    _write_snapshots(scores, started.date())
    progress("posts", len(scores.post_ids), len(scores.post_ids))
    progress("snapshots", len(scores.author_ids), len(scores.author_ids))


def _replace_post_scores(scores: AuthorScores) -> None:
    """Write every post's score and delete the scores of posts left without votes."""
    if data.is_postgres():
        data_write.write_post_scores(scores, timezone.now(), delete_stale=True)
        return
    with transaction.atomic():
        PostScore.objects.exclude(post_id__in=Vote.objects.values("post_id")).delete()
        _write_post_scores(scores)


def _write_credibility(cred, progress: Progress) -> None:
    n = len(cred.voter_ids)
    if data.is_postgres():
        data_write.write_credibility(cred, timezone.now())
        progress("credibility", n, n)
        return
    flags = getattr(cred, "flags", None)
    rows = [
        VoterCredibility(voter_id=int(v), credibility=float(c), flags=flags(i) if flags else {})
        for i, (v, c) in enumerate(zip(cred.voter_ids, cred.credibility))
    ]
    for start in range(0, n, BATCH):
        VoterCredibility.objects.bulk_create(
            rows[start : start + BATCH], update_conflicts=True, unique_fields=["voter"],
            update_fields=["credibility", "flags", "updated_at"],
        )
        progress("credibility", min(start + BATCH, n), n)


def _percentiles(scores: AuthorScores) -> np.ndarray:
    """Rank among authors with enough data, 0-100 (NaN for the rest)."""
    ranked = scores.status != "insufficient_data"
    ranks = np.full(len(scores.author_ids), np.nan)
    ranks[ranked] = _percentile_ranks(scores.score[ranked])
    return ranks


def _percentile_ranks(score: np.ndarray) -> np.ndarray:
    """Each ranked author's share of the others scoring below it, 0-100 to one decimal."""
    if not len(score):
        return np.empty(0)
    key = data.rank_key(score)
    below = np.searchsorted(np.sort(key), key, "left")  # equal scores share a rank
    # Python's round, not np.round: it rounds the decimal value exactly, as the ORM path always did.
    return np.array([round(x, 1) for x in (100.0 * below / max(len(score) - 1, 1)).tolist()])


def _write_reputations(scores: AuthorScores, progress: Progress) -> None:
    now = timezone.now()
    n = len(scores.author_ids)
    ranks = _percentiles(scores)
    if data.is_postgres():
        empty = {k: v for k, v in _empty_values().items() if k != "updated_at"}
        data_write.write_reputations(scores, ranks, get_engine().name, now, empty)
        progress("authors", n, n)
        return
    with transaction.atomic():
        # Authors whose every vote was retracted have no rows in the arrays: reset them.
        stored = np.fromiter(AuthorReputation.objects.values_list("author_id", flat=True), dtype=np.int64)
        emptied = np.setdiff1d(stored, scores.author_ids)
        for start in range(0, len(emptied), BATCH):
            AuthorReputation.objects.filter(author_id__in=emptied[start : start + BATCH].tolist()).update(
                **{**_empty_values(), "percentile": None, "updated_at": now}
            )
        for start in range(0, n, BATCH):
            rows = []
            for i in range(start, min(start + BATCH, n)):
                values = _row_values(scores, i, now)
                values["percentile"] = None if np.isnan(ranks[i]) else float(ranks[i])
                rows.append(AuthorReputation(author_id=int(scores.author_ids[i]), **values))
            AuthorReputation.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["author"], update_fields=REP_FIELDS + ["percentile"]
            )
            progress("authors", min(start + BATCH, n), n)


def _write_snapshots(scores: AuthorScores, day) -> None:
    if data.is_postgres():
        data_write.write_snapshots(scores, day)
        return
    rows = [
        ReputationSnapshot(
            author_id=int(a), day=day, score=float(s), low=float(lo), high=float(hi), votes=int(u + d), coordinated=float(c)
        )
        for a, s, lo, hi, u, d, c in zip(
            scores.author_ids, scores.score, scores.low, scores.high, scores.upvotes, scores.downvotes,
            data_write.coordinated_weights(scores),
        )
    ]
    for start in range(0, len(rows), BATCH):
        ReputationSnapshot.objects.bulk_create(
            rows[start : start + BATCH], update_conflicts=True, unique_fields=["author", "day"],
            update_fields=["score", "low", "high", "votes", "coordinated"],
        )
    with connection.cursor() as cur:
        data_write.mark_corrections(cur, day)


def _write_post_scores(scores: AuthorScores) -> None:
    """Upsert the scores of the given posts (the caller deletes stale ones)."""
    now = timezone.now()
    if data.is_postgres() and len(scores.post_ids) > COPY_THRESHOLD:
        data_write.write_post_scores(scores, now, delete_stale=False)
        return
    rows = [
        PostScore(post_id=int(p), quality=float(q), upvotes=int(u), downvotes=int(d), updated_at=now)
        for p, q, u, d in zip(scores.post_ids, scores.post_quality, scores.post_upvotes, scores.post_downvotes)
    ]
    for start in range(0, len(rows), BATCH):
        PostScore.objects.bulk_create(
            rows[start : start + BATCH], update_conflicts=True, unique_fields=["post"],
            update_fields=["quality", "upvotes", "downvotes", "updated_at"],
        )


def sweep_pending(*, older_than_seconds: float | None = None, limit: int = 1000) -> int:
    """Re-queue refreshes whose task was lost (broker down, worker killed), with backoff and a cap.

    A row swept n times waits older_than * 2**n (at most REPUTATION_SWEEP_MAX_BACKOFF) before the next
    try; after REPUTATION_OUTBOX_MAX_ATTEMPTS it is left alone (stuck: see `outbox_stuck_count`).
    """
    from django.conf import settings

    if older_than_seconds is None:
        older_than_seconds = settings.REPUTATION_SWEEP_AFTER_SECONDS
    now = timezone.now()
    due = Q()
    for n in range(settings.REPUTATION_OUTBOX_MAX_ATTEMPTS):  # a handful of buckets, one query
        wait = min(older_than_seconds * 2**n, max(settings.REPUTATION_SWEEP_MAX_BACKOFF, older_than_seconds))
        due |= Q(attempts=n, marked_at__lt=now - timedelta(seconds=wait))
    ids = list(PendingRefresh.objects.filter(due).order_by("marked_at").values_list("author_id", flat=True)[:limit])
    PendingRefresh.objects.filter(author_id__in=ids).update(attempts=F("attempts") + 1, marked_at=now)
    for author_id in ids:
        refresh_enqueue(author_id, countdown=0)
    given_up = PendingRefresh.objects.filter(
        author_id__in=ids, attempts__gte=settings.REPUTATION_OUTBOX_MAX_ATTEMPTS
    ).values_list("author_id", flat=True)
    for author_id in given_up:
        log.error("refresh of author %s re-queued %s times; the sweep stops here (stuck outbox row)",
                  author_id, settings.REPUTATION_OUTBOX_MAX_ATTEMPTS)
    return len(ids)


def outbox_stuck_count() -> int:
    """Outbox rows the sweep has given up on (REPUTATION_OUTBOX_MAX_ATTEMPTS re-queues, still pending).

    For /readyz and the metrics: above 0, refreshes are failing; the full refit still covers those
    authors, and the admin's "Retry" action on pending refreshes puts them back in the sweep.
    """
    from django.conf import settings

    return PendingRefresh.objects.filter(attempts__gte=settings.REPUTATION_OUTBOX_MAX_ATTEMPTS).count()
