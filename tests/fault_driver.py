"""Runs one step of a fault-injection test in its own process, like a web request would.

    python -m tests.fault_driver vote POST_ID USER_ID VALUE   -> prints {"elapsed": s, "vote_id": id}
    python -m tests.fault_driver votes POST:USER:VALUE ...    -> prints {"elapsed": s, "vote_ids": [id, ...]}

The environment (DATABASE_URL, REDIS_URL) points it at the test database and the test's own Redis.
"""

import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.contrib.auth import get_user_model

from votes import services
from votes.models import Post


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "vote":
        post_id, user_id, value = args
        post = Post.objects.select_related("author").get(pk=int(post_id))
        voter = get_user_model().objects.get(pk=int(user_id))
        started = time.monotonic()
        vote = services.vote_cast(voter=voter, post=post, value=int(value), source="fault-test")
        print(json.dumps({"elapsed": time.monotonic() - started, "vote_id": vote.pk}))
    elif command == "votes":  # several votes from one process (one django.setup for all)
        started, ids = time.monotonic(), []
        for spec in args:
            post_id, user_id, value = spec.split(":")
            post = Post.objects.select_related("author").get(pk=int(post_id))
            voter = get_user_model().objects.get(pk=int(user_id))
            ids.append(services.vote_cast(voter=voter, post=post, value=int(value), source="fault-test").pk)
        print(json.dumps({"elapsed": time.monotonic() - started, "vote_ids": ids}))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
