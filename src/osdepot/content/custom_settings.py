"""Custom configuration settings (LXCA's configuration-settings JSON) and the macros
they define (``POST /osImages/customSettings``).

A settings document is a tree of objects. Each has a ``name`` and a ``type``;
``assoc_array`` objects hold children in ``content`` and, in ``template``, the shape
of elements repeated at deployment (named ``name0``, ``name1``, …). Every leaf is a
setting and becomes a macro ``#a.b.c#``: the names on its path, without the top-most
object's, joined by dots; elements of a template are shown with index 0. The checks
and the error report (a JSON-pointer location and a message per problem) are
osdepot's reading of LXCA's description; docs/profiles.md lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from osdepot.domain.text import strict_json

#: value types of leaves, and of containers
LEAF_TYPES = frozenset({"string", "integer", "number", "boolean", "password"})
CONTAINER_TYPES = frozenset({"assoc_array", "array"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_KNOWN = frozenset(
    {
        "name",
        "type",
        "category",
        "common",
        "optional",
        "content",
        "template",
        "value",
        "choices",
        "label",
        "description",
        "min",
        "max",
        "minElements",
        "maxElements",
    }
)
MAX_NODES = 10_000
MAX_DEPTH = 16
MAX_ERRORS = 100


@dataclass
class Report:
    """What a settings document defines, or where it is wrong."""

    macros: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    nodes: int = 0

    def problem(self, where: str, text: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"location": where or "/", "message": text})


def parse_settings(raw: Any) -> Any:
    """The document from the request's ``customConfigValues``: an object, a JSON text
    of one, or (as the reference's example writes it) a one-element list."""
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if isinstance(raw, dict) and set(raw) == {"customConfigValues"}:
        raw = raw["customConfigValues"]
    if isinstance(raw, str):
        try:
            raw = strict_json(raw)
        except ValueError as exc:
            raise ValueError(f"customConfigValues is not valid JSON: {exc}") from None
    return raw


def check_settings(doc: Any) -> Report:
    """Check a settings document; its macros when it is valid, its problems if not."""
    report = Report()
    if not isinstance(doc, dict):
        report.problem("/", "The settings must be a JSON object.")
        return report
    _container(doc, "", [], report, 0, top=True)
    if report.errors:
        report.macros = []
    return report


def _node(node: Any, where: str, path: list[str], report: Report, depth: int) -> None:
    report.nodes += 1
    if report.nodes > MAX_NODES:
        if report.nodes == MAX_NODES + 1:
            report.problem(where, f"The settings hold more than {MAX_NODES} objects.")
        return
    if not isinstance(node, dict):
        report.problem(where, "Each setting must be a JSON object.")
        return
    name = node.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        report.problem(
            where + "/name",
            "Each setting needs a name: a letter or _ then letters, digits, _ or - "
            "(at most 64 characters).",
        )
        return
    unknown = sorted(k for k in node if k not in _KNOWN)
    if unknown:
        report.problem(f"{where}/{unknown[0]}", f"{unknown[0]} is not a setting attribute.")
    for flag in ("common", "optional"):
        if flag in node and not isinstance(node[flag], bool):
            report.problem(f"{where}/{flag}", f"{flag} must be true or false.")
    if node.get("category", "dynamic") not in ("static", "dynamic"):
        report.problem(where + "/category", "category must be static or dynamic.")
    for text in ("label", "description"):
        if text in node and not isinstance(node[text], str):
            report.problem(f"{where}/{text}", f"{text} must be a string.")
    kind = node.get("type")
    if kind in CONTAINER_TYPES:
        _container(node, where, [*path, name], report, depth + 1)
    elif kind in LEAF_TYPES:
        _leaf(node, where, [*path, name], report)
    else:
        report.problem(
            where + "/type",
            f"type must be one of {', '.join(sorted(LEAF_TYPES | CONTAINER_TYPES))}.",
        )


def _container(
    node: dict[str, Any], where: str, path: list[str], report: Report, depth: int, top: bool = False
) -> None:
    if depth > MAX_DEPTH:
        report.problem(where, f"The settings nest deeper than {MAX_DEPTH} levels.")
        return
    content, template = node.get("content"), node.get("template")
    if content is None and template is None:
        report.problem(where + "/content", "A container needs content or a template.")
        return
    # the top-most object's name is not part of a macro (LXCA's rule)
    inner = [] if top else path
    if content is not None:
        if not isinstance(content, list):
            report.problem(where + "/content", "content must be a list of settings.")
        else:
            _children(content, f"{where}/content", inner, report, depth)
    if template is not None:
        if not isinstance(template, list) or len(template) != 1:
            report.problem(where + "/template", "template must be a list of one setting.")
        else:
            element = template[0]
            if isinstance(element, dict) and isinstance(element.get("name"), str):
                # elements made from a template are named name0, name1, …
                element = {**element, "name": element["name"] + "0"}
            before = len(report.macros)
            _node(element, f"{where}/template/0", inner, report, depth)
            for m in report.macros[before:]:
                m["repeated"] = True
        for key in ("minElements", "maxElements"):
            value = node.get(key)
            if value is not None and (not isinstance(value, int) or value < 0):
                report.problem(f"{where}/{key}", f"{key} must be a whole number ≥ 0.")


def _children(nodes: list[Any], where: str, path: list[str], report: Report, depth: int) -> None:
    seen: set[str] = set()
    for i, child in enumerate(nodes):
        name = child.get("name") if isinstance(child, dict) else None
        if isinstance(name, str):
            if name in seen:
                report.problem(f"{where}/{i}/name", f"{name} is used twice at this level.")
            seen.add(name)
        _node(child, f"{where}/{i}", path, report, depth)


def _leaf(node: dict[str, Any], where: str, path: list[str], report: Report) -> None:
    kind = node["type"]
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "password": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    fits = checks[kind]
    ok = True
    texts = [node.get("value"), *(node.get("choices") or [])]
    if any(isinstance(t, str) and "\x00" in t for t in texts):
        report.problem(where + "/value", "A value holds a NUL character (U+0000).")
        ok = False
    if "value" in node and node["value"] is not None and not fits(node["value"]):
        report.problem(where + "/value", f"The value is not of type {kind}.")
        ok = False
    choices = node.get("choices")
    if choices is not None:
        if not isinstance(choices, list) or not choices or not all(fits(c) for c in choices):
            report.problem(where + "/choices", f"choices must be a list of {kind} values.")
            ok = False
        elif ok and node.get("value") is not None and node["value"] not in choices:
            report.problem(where + "/value", "The value is not one of the choices.")
    for bound in ("min", "max"):
        numeric = kind in ("integer", "number")
        if bound in node and (not numeric or not checks["number"](node[bound])):
            report.problem(f"{where}/{bound}", f"{bound} applies to numbers only.")
    if node.get("category", "dynamic") == "static" and node.get("value") is None:
        report.problem(where + "/value", "A static setting needs a value.")
    name = ".".join(path)
    report.macros.append(
        {
            "name": name,
            "macro": f"#{name}#",
            "type": kind,
            "label": node.get("label", ""),
            "description": node.get("description", ""),
            "optional": bool(node.get("optional", False)),
            "common": bool(node.get("common", False)),
            "category": node.get("category", "dynamic"),
            "repeated": False,
            "value": node.get("value"),
        }
    )


def macro_values(report: Report) -> dict[str, str]:
    """The value each macro of a valid document has (its ``value``; booleans as
    ``true``/``false``), for the files of a deployment."""
    out: dict[str, str] = {}
    for m in report.macros:
        value = m.get("value")
        if value is None:
            continue
        out[str(m["name"])] = (
            ("true" if value else "false") if isinstance(value, bool) else str(value)
        )
    return out
