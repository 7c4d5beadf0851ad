"""Every message id the console uses: ``_("…")`` in the dashboard's templates (Jinja's own extractor) and
``t("…")`` / ``ui.t("…")`` / ``tr("…")`` calls in its Python modules (the AST), so that a test can hold the
catalogues to them."""

from __future__ import annotations

import ast
from pathlib import Path

from jinja2 import Environment
from jinja2.ext import extract_from_ast

SRC = Path(__file__).resolve().parents[2] / "src" / "sitewide"
TEMPLATES = SRC / "dashboard" / "templates"
PY_FILES = [
    *sorted((SRC / "service" / "routes").glob("*_ui.py")),
    SRC / "service" / "routes" / "ui.py",
    SRC / "service" / "diagnosis.py",
]
CALLERS = {"t", "tr", "_"}


def template_msgids() -> dict[str, str]:
    env = Environment()
    out: dict[str, str] = {}
    for f in sorted(TEMPLATES.glob("*.html")):
        tree = env.parse(f.read_text(encoding="utf-8"))
        for _, _, msg in extract_from_ast(tree, gettext_functions=("_",)):
            first = msg[0] if isinstance(msg, tuple) else msg  # with keyword values: (msgid, None, …)
            if isinstance(first, str):
                out.setdefault(first, f.name)
    return out


def python_msgids() -> dict[str, str]:
    out: dict[str, str] = {}
    for f in PY_FILES:
        if not f.exists():
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
            if isinstance(fn, ast.Call):  # tr_of(request)("…")
                name = "t"
            arg = node.args[0]
            if name in CALLERS and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.setdefault(arg.value, f.name)
    return out


def all_msgids() -> dict[str, str]:
    return {**python_msgids(), **template_msgids()}
