"""Web pages. Thin: parse the request, call a service or selector, render.

Every vote action works as a plain POST (redirect back with a message) and, when
htmx sends it, answers with the re-rendered vote box instead; refused actions
answer the box with the error inline and a 4xx status that htmx is configured to swap.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

from axes import helpers as axes_helpers
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from reputation import selectors as reputation_selectors

from . import abuse, claims, selectors, services
from . import rate_next as rate_next_service
from .forms import PostURLForm, SignUpForm, VoteForm
from .models import Author, Post
from .platforms import PLATFORMS

# Refused actions as HTTP: bad input, forbidden for this user, clashes with existing state.
ERROR_STATUS = {"invalid": 400, "self-vote": 403, "author-conflict": 409}


def _status_for(exc: services.VoteError) -> int:
    return ERROR_STATUS.get(exc.code, 400)


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it (the typing its docs recommend)."""

    htmx: HtmxDetails


def _safe_next(request: HttpRequest, fallback: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def _login_redirect(request: HtmxHttpRequest, next_url: str) -> HttpResponse:
    login_url = f"{reverse('login')}?{urlencode({'next': next_url})}"
    if request.htmx:
        return HttpResponseClientRedirect(login_url)
    return redirect(login_url)


def _feed(request: HttpRequest, form: PostURLForm, status: int = 200) -> HttpResponse:
    unrated = request.GET.get("show") == "unrated" and request.user.is_authenticated
    page = selectors.feed_page(user=request.user, page_number=request.GET.get("page"), unrated_only=unrated)
    context = {"page": page, "form": form, "unrated": unrated, "stats": selectors.site_stats()}
    return render(request, "votes/feed.html", context, status=status)


def feed(request: HttpRequest) -> HttpResponse:
    # ?paste=: a link pasted while logged out, carried through the log-in (see rate): the box is ready with it.
    return _feed(request, PostURLForm(initial={"url": request.GET.get("paste", "")[:500]}))


@require_POST
def rate(request: HtmxHttpRequest) -> HttpResponse:
    """Register a pasted post link and land on its card, ready to vote."""
    if not request.user.is_authenticated:
        pasted = request.POST.get("url", "").strip()[:500]
        return _login_redirect(request, reverse("feed") + (f"?{urlencode({'paste': pasted})}" if pasted else ""))
    form = PostURLForm(request.POST)
    if not form.is_valid():
        return _feed(request, form, status=400)
    try:
        post = services.post_register(url=form.cleaned_data["url"])
    except services.VoteError as exc:
        form.add_error("url", str(exc))
        return _feed(request, form, status=_status_for(exc))
    return redirect("post", pk=post.pk)


def post_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        post = selectors.post_get(pk=pk, user=request.user)
    except Post.DoesNotExist:
        raise Http404("No such post") from None
    more = [p for p in selectors.author_posts(author=post.author, user=request.user, limit=6) if p.pk != post.pk][:5]
    return render(request, "votes/post.html", {"post": post, "more": more})


@require_POST
def vote(request: HtmxHttpRequest, post_id: int) -> HttpResponse:
    post = get_object_or_404(Post.objects.select_related("author"), pk=post_id)
    back = _safe_next(request, reverse("post", args=[post.pk]))
    if not request.user.is_authenticated:
        return _login_redirect(request, back)

    form = VoteForm(request.POST)
    error: services.VoteError | None = None
    notice = ""
    try:
        if not form.is_valid():
            raise services.InvalidInput(" ".join(str(e) for e in form.errors.get("__all__", [])) or "That vote could not be read.")
        if form.cleaned_data["retract"]:
            removed = services.vote_retract(voter=request.user, post=post)
            notice = "Vote retracted." if removed else "You had not voted on this post."
        else:
            cast = services.vote_cast(
                voter=request.user, post=post, value=form.cleaned_data["value"], reason=form.cleaned_data["reason"]
            )
            notice = "Thanks — counted as a good post." if cast.value > 0 else "Thanks — counted as a poor post."
            if cast.solicited:
                notice = notice[:-1] + ", in Merit’s random sample."
    except services.VoteError as exc:
        error = exc

    if request.htmx:
        shown = selectors.post_get(pk=post.pk, user=request.user)
        context = {"post": shown, "next": back, "error": str(error) if error else "", "notice": notice,
                   "in_card": bool(request.POST.get("card"))}
        response = render(request, "votes/partials/vote_box.html", context, status=_status_for(error) if error else 200)
        if context["in_card"] and not error:  # the card's figures follow too, out of band (htmx swaps them by id)
            response.write(render_to_string(
                "votes/partials/post_quality.html", {"post": shown, "oob": True, "pending": True, "next_try": 1}, request
            ))
        return response
    if error:
        messages.error(request, str(error))
    else:
        messages.success(request, notice)
    return redirect(f"{back}#post-{post.pk}")


QUALITY_POLLS = 8  # the card asks again every 2 s while the author's refresh is queued: ~16 s at most


def post_quality(request: HttpRequest, pk: int) -> HttpResponse:
    """The card's post-quality figures, asked for again after a vote until the worker has counted it."""
    try:
        shown = selectors.post_get(pk=pk, user=request.user)
    except Post.DoesNotExist:
        raise Http404("No such post") from None
    tries = int(request.GET["try"]) if request.GET.get("try", "").isdigit() else QUALITY_POLLS
    pending = tries < QUALITY_POLLS and reputation_selectors.refresh_pending(author_id=shown.author_id)
    return render(request, "votes/partials/post_quality.html",
                  {"post": shown, "pending": pending, "next_try": tries + 1})


def author(request: HttpRequest, platform: str, handle: str) -> HttpResponse:
    if platform not in PLATFORMS:
        raise Http404("Unknown platform")
    try:
        found = selectors.author_get(platform=platform, handle=handle)
    except Author.DoesNotExist:
        raise Http404("No one has rated this author yet") from None
    if found.handle != handle:  # one canonical address per author, whatever case was typed
        return redirect("author", platform=platform, handle=found.handle)
    context = {
        "author": found,
        "rep": found.rep,
        "posts": selectors.author_posts(author=found, user=request.user),
        "history": selectors.author_history(author=found),
        "platform_label": PLATFORMS[platform].label,
        "is_mine": request.user.is_authenticated and found.owner_id == request.user.pk,
        "my_claim": claims.claim_pending(user=request.user, author=found),
        "claim_days": settings.CLAIM_PROOF_DAYS,
    }
    return render(request, "votes/author.html", context)


def _claimable(request: HttpRequest, platform: str, handle: str) -> Author:
    if platform not in PLATFORMS:
        raise Http404("Unknown platform")
    try:  # only authors already on Merit: no creating authors by crafted POSTs
        return Author.objects.get_by_handle(platform, handle)
    except Author.DoesNotExist:
        raise Http404("Only authors already on Merit can be claimed") from None


@require_POST
def author_claim(request: HtmxHttpRequest, platform: str, handle: str) -> HttpResponse:
    """'This is me': start a claim; the author page then shows the code to post from the account."""
    page = reverse("author", kwargs={"platform": platform, "handle": handle})
    if not request.user.is_authenticated:
        return _login_redirect(request, page)
    author = _claimable(request, platform, handle)
    try:
        claim = claims.claim_start(user=request.user, author=author)
    except claims.ClaimError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Now post {claim.code} from @{author.handle} and paste that post’s link below.")
    return redirect(reverse("author", kwargs={"platform": author.platform, "handle": author.handle}) + "#claim")


@require_POST
def author_claim_verify(request: HtmxHttpRequest, platform: str, handle: str) -> HttpResponse:
    """The proof: the link of a post carrying the claim's code, fetched from the platform and checked."""
    page = reverse("author", kwargs={"platform": platform, "handle": handle})
    if not request.user.is_authenticated:
        return _login_redirect(request, page)
    author = _claimable(request, platform, handle)
    if wait := claims.verify_wait(request):
        messages.error(request, f"Too many proof attempts; try again in {math.ceil(wait / 60)} minutes.")
        return redirect(page + "#claim")
    try:
        claims.claim_verify(user=request.user, author=author, proof_url=request.POST.get("proof_url", "")[:600])
    except claims.ClaimError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Verified: @{author.handle} is yours. You can delete the proof post; you can no longer vote on its posts."
        )
    return redirect(reverse("author", kwargs={"platform": author.platform, "handle": author.handle}) + "#claim")


def leaderboard(request: HttpRequest) -> HttpResponse:
    platform = request.GET.get("platform") or None
    if platform not in PLATFORMS:
        platform = None
    page = selectors.leaderboard_page(page_number=request.GET.get("page"), platform=platform)
    return render(request, "votes/leaderboard.html", {"page": page, "platform": platform, "platforms": PLATFORMS})


@login_required
def my_votes(request: HttpRequest) -> HttpResponse:
    page = selectors.my_votes_page(user=request.user, page_number=request.GET.get("page"))
    weight = reputation_selectors.voter_weight(user=request.user)
    return render(request, "votes/my_votes.html", {"page": page, "weight": weight})


@login_required
def rate_next(request: HttpRequest) -> HttpResponse:
    """Posts Merit picked for this voter; votes on them are solicited (see votes.rate_next)."""
    picks = rate_next_service.rate_next_assign(user=request.user)
    context = {
        "posts": selectors.posts_in_order(ids=[a.post_id for a in picks], user=request.user),
        "ttl_hours": int(rate_next_service.ASSIGNMENT_TTL.total_seconds() // 3600),
    }
    return render(request, "votes/rate_next.html", context)


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("feed")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and (wait := abuse.signup_wait(request)):
        response = render(request, "registration/signup.html",
                          {"form": SignUpForm(initial={"username": request.POST.get("username", "")}),
                           "retry_minutes": math.ceil(wait / 60)}, status=429)
        response["Retry-After"] = str(wait)
        return response
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Merit, {user.username}. Paste a post link or rate one below.")
        return redirect(_safe_next(request, reverse("feed")))
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a login from a locked-out address or for a locked-out username."""
    cool_off = axes_helpers.get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    response = render(request, "registration/locked_out.html",
                      {"retry_minutes": math.ceil(seconds / 60)}, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
