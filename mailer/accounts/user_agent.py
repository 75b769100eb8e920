"""A coarse label for a trusted browser: its family and its system, from the User-Agent.

Only what lets an editor tell their browsers apart ("firefox/windows"): no version, no
device model, no language, and never the header itself. A few substring tests in order
(the order matters: Edge and Opera also say "Chrome", Chrome also says "Safari", Android
also says "Linux", iOS also says "Mac OS X"); anything else is "other".
"""

from __future__ import annotations

# (marker in the User-Agent, family): the first match wins.
BROWSERS = (
    ("Edg/", "edge"),
    ("EdgA/", "edge"),
    ("EdgiOS/", "edge"),
    ("OPR/", "opera"),
    ("SamsungBrowser/", "samsung"),
    ("Firefox/", "firefox"),
    ("FxiOS/", "firefox"),
    ("Chromium/", "chromium"),
    ("Chrome/", "chrome"),
    ("CriOS/", "chrome"),
    ("Safari/", "safari"),
)
SYSTEMS = (
    ("Windows", "windows"),
    ("iPhone", "ios"),
    ("iPad", "ios"),
    ("iPod", "ios"),
    ("Android", "android"),
    ("CrOS", "chromeos"),
    ("Macintosh", "macos"),
    ("Mac OS X", "macos"),
    ("Linux", "linux"),
    ("BSD", "bsd"),
)
OTHER = "other"
MAX_LENGTH = 512  # longer headers are not read at all


def _first(user_agent: str, table: tuple[tuple[str, str], ...]) -> str:
    return next((name for marker, name in table if marker in user_agent), OTHER)


def coarse_label(user_agent: str | None) -> str:
    """'<family>/<system>', each one of a few fixed names or 'other'."""
    text = (user_agent or "")[:MAX_LENGTH]
    return f"{_first(text, BROWSERS)}/{_first(text, SYSTEMS)}"


def parts(label: str) -> tuple[str, str]:
    """(family, system) of a stored label; unknown names read as 'other'."""
    family, _, system = label.partition("/")
    families = {name for _marker, name in BROWSERS}
    systems = {name for _marker, name in SYSTEMS}
    return (
        family if family in families else OTHER,
        system if system in systems else OTHER,
    )
