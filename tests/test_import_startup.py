"""`import_votes` starts without what it never uses (issue 12.4): the reputation engine's scipy is loaded
on first use, the apps' ready() does not import the refit (api.services -> votes.claims), and the URL
configuration (which imports every view) is not checked before an import."""

from __future__ import annotations

import os
import subprocess
import sys

from django.core.checks import Tags

from votes.management.commands.import_votes import Command


def imported_after(statement: str, env: dict | None = None) -> set[str]:
    """The modules a fresh interpreter holds after running `statement` (no Django set up unless it does)."""
    code = f"import sys\n{statement}\nprint(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    return set(out.splitlines()[-1].split())


def test_it_imports_the_engine_types_without_the_engines_or_scipy():
    modules = imported_after("import reputation.engine.types; from reputation.engine import DAY, VoteData")

    assert "reputation.engine.types" in modules
    assert "reputation.engine.merit" not in modules
    assert "scipy" not in modules


def test_it_still_gives_the_engines_on_first_use():
    from reputation.engine import MeritEngine, SimpleBayesEngine, get_engine
    from reputation.engine.merit import MeritEngine as Merit
    from reputation.engine.simple import SimpleBayesEngine as Simple

    assert MeritEngine is Merit and SimpleBayesEngine is Simple
    assert isinstance(get_engine(), Merit)


def test_it_refuses_a_name_the_engine_package_does_not_have():
    import reputation.engine

    assert not hasattr(reputation.engine, "NoSuchEngine")


def test_it_runs_every_tagged_system_check_but_the_url_ones():
    tags = set(Command.requires_system_checks)

    assert Tags.urls not in tags
    assert {Tags.models, Tags.database, Tags.admin, Tags.security, Tags.caches} <= tags


def test_setting_up_django_loads_neither_the_refit_nor_scipy():
    # Every app's ready() runs here, as in any management command; DEBUG only for the settings' dev key.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1"}
    modules = imported_after("import django; django.setup()", env)

    assert "api.services" in modules and "votes.claims" in modules  # api's ready() did run
    assert "reputation.engine.refit" not in modules
    assert "scipy" not in modules

