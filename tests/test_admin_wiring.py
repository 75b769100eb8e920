"""The admin blueprint wires once (STYLE 27): the package makes `bp` and imports its pages."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

ADMIN = ROOT / "mailer" / "admin"
PAGES = {"articles", "bounces", "digests", "subscriber_imports", "subscriber_io", "subscribers"}
PAGES |= {"views"}


def imports_of(module: str) -> set[str]:
    tree = ast.parse((ADMIN / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
            found.add(node.module)
    return found


def test_page_modules_take_bp_from_the_package_and_never_import_each_other() -> None:
    for page in PAGES:
        imported = imports_of(page)
        assert "mailer.admin.bp" in imported, page
        others = {f"mailer.admin.{p}" for p in PAGES - {page}}
        assert not imported & others, f"{page} imports {imported & others}"


def test_any_page_module_imported_first_gives_the_whole_blueprint() -> None:
    script = (
        "import importlib, sys\n"
        "importlib.import_module('mailer.admin.' + sys.argv[1])\n"
        "from mailer.admin import bp\n"
        "print(len(bp.deferred_functions))\n"
    )
    counts = {
        subprocess.run(
            [sys.executable, "-c", script, page],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for page in ("digests", "subscriber_io", "views")
    }
    assert len(counts) == 1 and int(counts.pop()) > 25  # every route, whichever came first
