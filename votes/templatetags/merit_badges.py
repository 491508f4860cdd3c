"""The author page's badge snippet (templates/votes/_badge_snippet.html): absolute links to copy elsewhere."""

from __future__ import annotations

from django import template
from django.utils.html import escape

from config.ops.site_url import site_url
from votes.badges import badge_paths

register = template.Library()


@register.simple_tag(takes_context=True)
def badge_snippet_for(context, author) -> dict:
    """The badge's address, and Markdown and HTML that show it linked to the author page."""
    base = site_url(context.get("request"))  # SITE_URL when set, else the address this page was asked on
    badge_path, page_path = badge_paths(author)
    badge_url, page_url = base + badge_path, base + page_path
    alt = f"Merit reputation of @{author.handle}"
    return {
        "path": badge_path,
        "url": badge_url,
        "alt": alt,
        "markdown": f"[![{alt}]({badge_url})]({page_url})",
        # Plain text (an f-string of escaped parts, not a SafeString): the template escapes it again as shown.
        "html": f'<a href="{escape(page_url)}"><img src="{escape(badge_url)}" alt="{escape(alt)}" height="20"></a>',
    }
