"""Admin: articles (list, search, create, edit, delete) and feed import."""

from __future__ import annotations

import tempfile
from datetime import UTC

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from mailer.admin import bp
from mailer.admin.forms import ArticleForm, FeedImportForm
from mailer.articles import stories
from mailer.articles.feeds import FeedError, import_feed
from mailer.articles.service import DuplicateArticle, save_article
from mailer.extensions import db
from mailer.models import Article

PER_PAGE = 25


@bp.get("/articles")
def articles() -> ResponseReturnValue:
    q = request.args.get("q", "").strip()[:200]
    page = request.args.get("page", 1, type=int) or 1
    if page < 1:
        abort(404)
    query = select(Article)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(
            or_(func.lower(Article.title).like(like), func.lower(Article.author).like(like))
        )
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if page > 1 and (page - 1) * PER_PAGE >= total:
        abort(404)
    rows = db.session.scalars(
        query.order_by(Article.published_at.desc(), Article.id.desc())
        .offset((page - 1) * PER_PAGE)
        .limit(PER_PAGE)
    ).all()
    pages = max(1, -(-total // PER_PAGE))
    return render_template(
        "admin/articles.html",
        articles=rows,
        q=q,
        page=page,
        pages=pages,
        total=total,
        import_form=FeedImportForm(),
    )


def _article_form(article: Article | None) -> ArticleForm:
    form = ArticleForm(obj=article)
    form.language.choices = list(current_app.config["LANGUAGES"].items())
    form.translation_of.choices = [("", "— none: an original, or not linked —")] + [
        (str(a.id), f"{a.title} ({stories.language_name(a.language)})")
        for a in stories.candidates(article)
    ]
    if article is not None and request.method == "GET":
        form.published_at.data = article.published_at.replace(tzinfo=None)
        others = [a for a in stories.versions(article) if a.id != article.id]
        form.translation_of.data = str(others[0].id) if others else ""
    return form


def _link(article: Article, choice: str) -> None:
    """Link the article as a translation of the chosen one, or unlink it ("")."""
    if not choice:
        stories.unlink(article)
        return
    picked = choice.isdigit() and len(choice) < 10  # an id, not a number past the column's
    original = db.session.get(Article, int(choice)) if picked else None
    if original is None:
        raise stories.LinkRefused("Choose an article from the list.")
    stories.link(article, original)


def _fields(form: ArticleForm) -> dict[str, object]:
    published = form.published_at.data
    return {
        "title": form.title.data or "",
        "link": form.link.data or "",
        "guid": (form.guid.data or "").strip() or None,
        "summary": form.summary.data or "",
        "body_html": form.body_html.data or "",
        "image_url": form.image_url.data or None,
        "image_alt": form.image_alt.data or None,
        "image_credit": form.image_credit.data or None,
        "author": form.author.data or None,
        "region": form.region.data or None,
        "tags": form.tags.data or "",
        "language": form.language.data or "en",
        "published_at": published.replace(tzinfo=UTC) if published else None,
    }


@bp.route("/articles/new", methods=["GET", "POST"])
def new_article() -> ResponseReturnValue:
    return _edit(None)


@bp.route("/articles/<int:article_id>", methods=["GET", "POST"])
def edit_article(article_id: int) -> ResponseReturnValue:
    return _edit(db.session.get(Article, article_id) or abort(404))


def _edit(article: Article | None) -> ResponseReturnValue:
    form = _article_form(article)
    if form.validate_on_submit():
        try:
            if article is not None:
                stories.check_language(article, form.language.data or "en")
            saved = save_article(article, **_fields(form))
            _link(saved, form.translation_of.data or "")
        except stories.LinkRefused as exc:
            db.session.rollback()
            form.translation_of.errors = [str(exc)]
        except DuplicateArticle as exc:
            db.session.rollback()
            form.link.errors = [str(exc)]
        except ValueError as exc:
            db.session.rollback()
            form.title.errors = [str(exc)]
        else:
            db.session.commit()
            flash(_("Article saved."))
            return redirect(url_for("admin.edit_article", article_id=saved.id), 303)
    versions = stories.versions(article) if article is not None else []
    page = render_template("admin/article_edit.html", form=form, article=article, versions=versions)
    return page, (422 if form.errors else 200)


@bp.post("/articles/<int:article_id>/delete")
def delete_article(article_id: int) -> ResponseReturnValue:
    article = db.session.get(Article, article_id) or abort(404)
    db.session.delete(article)
    db.session.commit()
    flash(_("Article deleted."))
    return redirect(url_for("admin.articles"), 303)


@bp.post("/articles/import")
def import_articles() -> ResponseReturnValue:
    form = FeedImportForm()
    if not form.validate():
        flash(
            _("Give a feed URL or a file.")
            + " "
            + " ".join(str(e) for errs in form.errors.values() for e in errs)
        )
        return redirect(url_for("admin.articles"), 303)
    try:
        if form.file.data and form.file.data.filename:
            with tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
                form.file.data.save(tmp.name)
                report = import_feed(tmp.name)
        elif form.url.data:
            report = import_feed(form.url.data)
        else:
            flash(_("Give a feed URL or choose a file."))
            return redirect(url_for("admin.articles"), 303)
    except FeedError as exc:
        db.session.rollback()
        flash(_("Nothing imported: %(error)s", error=exc))
        return redirect(url_for("admin.articles"), 303)
    db.session.commit()
    flash(
        _(
            "Feed imported: %(added)s added, %(updated)s updated, %(skipped)s skipped.",
            added=report.added,
            updated=report.updated,
            skipped=len(report.skipped),
        )
    )
    return redirect(url_for("admin.articles"), 303)
