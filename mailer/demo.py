"""Demo content for `mailer demo`: lists, a few articles written for the demo, a draft digest.

The articles are invented for this demo, in the style of a free-expression news network.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from mailer import demo_languages
from mailer.digests.service import create_digest
from mailer.extensions import db
from mailer.models import Article, Digest, Editor, MailingList, utcnow
from mailer.urls import external_url

LISTS = [
    ("weekly", "Weekly updates", "A weekly digest of our latest articles.", True),
    (
        "alerts",
        "Press freedom alerts",
        "Urgent actions for writers at risk, when they happen.",
        True,
    ),
    ("members", "Members' briefing", "News for members and partner centres.", False),
]


ARTICLES = [
    {
        "slug": "poet-freed",
        "title": "Poet Lena Varga walks free after a surprise amnesty",
        "summary": "Held for two years over a poem read at a wedding, the poet was released on "
        "Tuesday under a national-day amnesty. We now ask for her conviction to be quashed.",
        "body": "<p>Lena Varga stepped out of the women's colony at dawn on Tuesday, greeted by "
        "her "
        "daughter and a handful of friends who had driven through the night.</p>"
        "<p>She was sentenced in 2024 to three years for “insulting the state” after reading a "
        "satirical poem at a family wedding; a guest's phone video did the rest.</p>"
        "<blockquote><p>I wrote about a crooked fence and a tired donkey. The court decided the "
        "donkey was a minister.</p></blockquote>"
        "<p>The amnesty leaves her conviction on record and bars her from publishing for five "
        "years. Our writers' committee calls for both to be lifted.</p>",
        "author": "Writers at Risk desk",
        "region": "Eastern Europe",
        "tags": "amnesty, poetry, release",
        "credit": "Photo: A. Supporter / demo image",
        "alt": "A woman with short grey hair holds a bunch of flowers outside a prison gate.",
        "days_ago": 1,
    },
    {
        "slug": "press-freedom-report",
        "title": "Annual report: 312 journalists behind bars, and the numbers hide the fear",
        "summary": "Our yearly count finds more reporters jailed than ever, but the sharper rise "
        "is "
        "in self-censorship: two in five journalists we surveyed dropped a story this year.",
        "body": "<p>The report, based on cases documented by 41 partner centres, counts 312 "
        "journalists and writers in prison on 1 November.</p>"
        "<p>Prison numbers tell part of the story. In our survey of 1,200 reporters, 43% said "
        "they had abandoned a story for fear of prosecution, surveillance or violence.</p>"
        "<ul><li>Most common charge: “spreading false information”</li>"
        "<li>Fastest-growing tactic: travel bans on reporters' families</li></ul>",
        "author": "Research team",
        "region": "Global",
        "tags": "report, journalists, self-censorship",
        "credit": "Illustration: demo image",
        "alt": "Rows of empty chairs in a conference hall, one with a name card.",
        "days_ago": 3,
    },
    {
        "slug": "court-ruling-blogger",
        "title": "Appeals court strikes down 'fake news' conviction of a blogger",
        "summary": "In a rare ruling, judges found that a travel blogger's post about a flooded "
        "highway was fair comment, not a threat to public order.",
        "body": "<p>The appeals court overturned the eight-month sentence handed to blogger Samir "
        "Haddad for a post criticising the response to spring floods.</p>"
        "<p>The judgment says the law cannot be used “to punish an opinion merely because "
        "officials find it unwelcome”. Lawyers expect the prosecution to appeal.</p>",
        "author": "Legal monitor",
        "region": "Middle East and North Africa",
        "tags": "court, blogger, ruling",
        "credit": "Photo: demo image",
        "alt": "The steps of a stone courthouse in the rain.",
        "days_ago": 4,
    },
    {
        "slug": "translators-network",
        "title": "Translators build a network to carry banned books across borders",
        "summary": "Volunteers in twelve countries now translate and publish work that writers "
        "cannot print at home, from short stories to prison diaries.",
        "body": "<p>The network began with three translators and a shared spreadsheet. It now "
        "counts 140 volunteers and has published 38 titles in 11 languages.</p>",
        "author": "Culture desk",
        "region": "Global",
        "tags": "translation, books",
        "credit": "Photo: demo image",
        "alt": "Stacks of books with covers in several alphabets on a wooden table.",
        "days_ago": 6,
    },
]


def load_demo() -> dict[str, int]:
    """Add what is missing of the demo content (idempotent); return what was added."""
    added = {"lists": 0, "articles": 0, "digests": 0, "readers": 0}
    for slug, name, description, public in LISTS:
        if db.session.scalar(select(MailingList).where(MailingList.slug == slug)) is None:
            db.session.add(
                MailingList(slug=slug, name=name, description=description, is_public=public)
            )
            added["lists"] += 1
    now = utcnow()
    for item in ARTICLES:
        link = f"https://news.example.org/{item['slug']}"
        if db.session.scalar(select(Article.id).where(Article.link == link)) is not None:
            continue
        db.session.add(
            Article(
                guid=link,
                link=link,
                title=item["title"],
                summary=item["summary"],
                body_html=item["body"],
                author=item["author"],
                region=item["region"],
                tags=item["tags"],
                # Served by mailer itself: no third-party host learns who reads the demo.
                image_url=external_url("static", filename=f"demo/{item['slug']}.png"),
                image_alt=item["alt"],
                image_credit=item["credit"],
                published_at=now - timedelta(days=int(str(item["days_ago"]))),
            )
        )
        added["articles"] += 1
    db.session.flush()
    images = {
        str(i["slug"]): external_url("static", filename=f"demo/{i['slug']}.png") for i in ARTICLES
    }
    days = {str(i["slug"]): now - timedelta(days=int(str(i["days_ago"]))) for i in ARTICLES}
    added["articles"] += demo_languages.load_translations(images, days)
    weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
    if weekly is not None:
        added["readers"] = demo_languages.load_readers(weekly)
    if weekly is not None and db.session.scalar(select(Digest.id).limit(1)) is None:
        digest = create_digest(
            weekly,
            intro="This week a poet walked free, a court stood up for a blogger, and our annual "
            "count shows how many journalists still cannot. Thank you for reading, and for "
            "sharing what matters.",
        )
        demo_languages.add_digest_texts(digest)
        added["digests"] += 1
    return added


DEMO_EDITOR = "editor@example.org"


def ensure_demo_editor(instance: Path) -> tuple[str, str] | None:
    """For `make run`: the demo editor and its password, created on the first run.

    The password is random and kept in instance/editor-password (mode 600) so that every run
    can print it; None if the editor exists but its password file is gone.
    """
    from mailer.admin.auth import create_editor

    path = instance / "editor-password"
    exists = db.session.scalar(select(Editor.id).where(Editor.email == DEMO_EDITOR))
    if exists is not None:
        return (DEMO_EDITOR, path.read_text().strip()) if path.is_file() else None
    password = secrets.token_urlsafe(12)
    create_editor(DEMO_EDITOR, password)
    instance.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return DEMO_EDITOR, password
