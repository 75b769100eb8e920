"""Article HTML sanitizing and HTML-to-text, for bodies, summaries and titles."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

ALLOWED_TAGS = {
    "p", "a", "em", "strong", "b", "i", "ul", "ol", "li", "blockquote",
    "h2", "h3", "h4", "br", "img", "figure", "figcaption",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}
URL_SCHEMES = {"http", "https", "mailto"}
# Removed with their content, not just unwrapped: their text is code or markup, not prose.
DROPPED_WITH_CONTENT = {
    "script", "style", "iframe", "noscript", "object", "embed", "template", "svg", "math",
    "textarea", "select", "title", "head",
}  # fmt: skip

# Tags whose edges separate words in the text version.
_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "img", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
}  # fmt: skip
_WHITESPACE = re.compile(r"\s+")


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Article HTML with only safe tags, attributes and http(s)/mailto URLs left.

    :param base_url: relative URLs are resolved against it; without it they are dropped
        (mail needs absolute URLs).
    """
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        url_relative=("rewrite_with_base", base_url) if base_url else "deny",
    ).strip()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str, limit: int | None = None) -> str:
    """The text of an HTML fragment: no tags, entities decoded, whitespace collapsed.

    :param limit: cut at a word boundary to at most this many characters, ending in "…".
    """
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return clip("".join(extractor.parts), limit)


def clip(text: str, limit: int | None = None) -> str:
    """`text` with whitespace collapsed, cut at a word boundary to `limit` characters."""
    text = _WHITESPACE.sub(" ", text).strip()
    if limit is None or len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-") + "…"
