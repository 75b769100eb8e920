"""A device cookie is not tied to the editor's password hash (an argon2 rehash at sign-in
would void every trusted browser): instead every path that really changes a password or
second factor, or disables an editor, forgets the editor's trusted browsers.

This test finds every place in mailer/ that writes Editor.password_hash, totp_secret or
disabled_at and fails on one it does not know: a new path must be listed here, with the
call that forgets the browsers or the reason it need not. The forgetting itself is tested
from where the editor, an owner and the operator stand in
tests/signin/test_trusted_devices_page.py (test_changed_credentials_forget_every_browser).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = {"password_hash", "totp_secret", "disabled_at"}
FORGETS = "device_store.forget_all"

# (module, function) → None: the function itself calls device_store.forget_all; or why not.
KNOWN: dict[tuple[str, str], str | None] = {
    ("mailer/accounts/service.py", "change_password"): None,  # the Account page
    ("mailer/accounts/service.py", "disable"): None,  # an owner
    ("mailer/admin/auth.py", "create_editor"): None,  # the operator: create-editor
    ("mailer/accounts/totp.py", "enrol"): None,  # the Account page, the first sign-in
    ("mailer/accounts/totp.py", "remove"): "only called by totp.reset, which forgets",
    ("mailer/accounts/service.py", "accept"): "a new editor: no browser of theirs yet",
    ("mailer/accounts/service.py", "enable"): "its browsers were forgotten when disabled",
    ("mailer/admin/auth.py", "check_password"): "argon2 rehash of the same password",
}


def _writes(tree: ast.AST) -> set[str]:
    """Names of the functions (innermost def) that write a credential column."""
    found: set[str] = set()

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Attribute) and t.attr in CREDENTIALS for t in targets):
            found.add(function)
        if isinstance(node, ast.Call) and any(k.arg in CREDENTIALS for k in node.keywords):
            found.add(function)  # Editor(password_hash=...), update(...).values(...=...)
        if isinstance(node, ast.Dict) and any(
            isinstance(k, ast.Constant) and k.value in CREDENTIALS for k in node.keys
        ):
            found.add(function)  # .values({"password_hash": ...})
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return found


def _calls(tree: ast.AST, function: str, call: str) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return any(
                isinstance(n, ast.Call) and ast.unparse(n.func) == call for n in ast.walk(node)
            )
    return False


def test_every_write_of_a_credential_forgets_the_editors_browsers_or_says_why_not() -> None:
    found: dict[tuple[str, str], ast.AST] = {}
    for path in sorted((ROOT / "mailer").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in _writes(tree):
            found[(str(path.relative_to(ROOT)), function)] = tree
    assert sorted(found) == sorted(KNOWN), "a new path writes a credential: list it in KNOWN"
    for (module, function), reason in KNOWN.items():
        if reason is None:
            assert _calls(found[(module, function)], function, FORGETS), (module, function)
    totp_tree = found[("mailer/accounts/totp.py", "remove")]
    assert _calls(totp_tree, "reset", "remove") and _calls(totp_tree, "reset", FORGETS)
    remove_callers = [
        path
        for path in (ROOT / "mailer").rglob("*.py")
        if "totp.remove(" in path.read_text(encoding="utf-8")
    ]
    assert remove_callers == []  # nothing outside totp.py calls remove
