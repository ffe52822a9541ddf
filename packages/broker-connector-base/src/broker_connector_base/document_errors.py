"""The one error format of strict documents: a line per problem, naming field and value.

``describe_errors`` turns a pydantic ``ValidationError`` into lines such as
``data.allocations[3].allocation: '0.5' is text, not a number (write it without quotes)`` or
``acount_id: is not a known field (known: ...); did you mean 'account_id'?``; secret fields
never show their value. ``broker_connector_base.documents`` uses it for every document.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Any

import annotated_types
from pydantic import BaseModel, RootModel, ValidationError
from pydantic_core import ErrorDetails

__all__ = ["describe_errors", "field_path", "show"]

_EXCERPT_CHARS = 80


def show(value: Any) -> str:
    """A short, safe rendering of a value for a message (long text is cut)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= _EXCERPT_CHARS else repr(value[:77] + "...")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        text = str(value)
        return text if len(text) <= _EXCERPT_CHARS else text[:77] + "..."
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("data", "allocations", 3, "symbol")`` -> ``data.allocations[3].symbol``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or "," in part:
            continue  # pydantic's union/function tags (``function-after[...]``) are not fields
        else:
            out += f".{part}" if out else str(part)
    return out


def _owner(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that declares the field at ``loc`` (following nested models), if known."""
    current = model
    for part in loc[:-1]:
        if current is None:
            return None
        if isinstance(part, int):
            # An index into a root list (RootModel[list[X]]): the entries are X.
            root = current.model_fields.get("root") if issubclass(current, RootModel) else None
            current = _model_in(root.annotation) if root is not None else current
            continue
        info = current.model_fields.get(str(part))
        current = _model_in(info.annotation) if info is not None else None
    return current


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _bounds(model: type[BaseModel] | None, field: str) -> tuple[Any, Any]:
    """The (lower, upper) bounds declared on ``model.field``, ``None`` where absent."""
    info = model.model_fields.get(field) if model is not None else None
    lower = upper = None
    for item in info.metadata if info is not None else ():
        if isinstance(item, annotated_types.Ge | annotated_types.Gt):
            lower = getattr(item, "ge", getattr(item, "gt", None))
        elif isinstance(item, annotated_types.Le | annotated_types.Lt):
            upper = getattr(item, "le", getattr(item, "lt", None))
    return lower, upper


def _unknown_field(error: ErrorDetails, owner: type[BaseModel] | None) -> str:
    if owner is None:
        return "is not a known field"
    known = list(owner.model_fields)
    name = str(error["loc"][-1]) if error["loc"] else ""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not close:
        close = [k for k in known if k.replace("_", "") == name.replace("_", "").lower()]
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"is not a known field (known: {', '.join(known)}){hint}"


def _typed(kind: str, value: str, raw: Any, ctx: dict[str, Any]) -> str | None:
    """The message for a value of the wrong type, ``None`` when ``kind`` is not one."""
    wanted = {
        "bool_type": "true or false",
        "int_type": "a whole number",
        "string_type": "text",
        "list_type": "a list",
        "tuple_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "datetime_type": "a date and time",
        "float_type": "a number",
        "decimal_type": "a number",
    }.get(kind)
    if kind == "is_instance_of" and ctx.get("class") == "Decimal":
        wanted = "a number"
    if wanted is None:
        return None
    if isinstance(raw, str) and wanted in {"a number", "a whole number", "true or false"}:
        return f"{value} is text, not {wanted} (write it without quotes)"
    if kind == "string_type" and isinstance(raw, int | float | Decimal):
        return f"{value} is a number; write it in quotes (leading zeros are lost otherwise)"
    return f"{value} is not {wanted}"


_PLAIN = {
    "finite_number": "{value} is not a finite number",
    "string_pattern_mismatch": "{value} does not match {pattern}",
}


def _out_of_bounds(error: ErrorDetails, value: str, owner: type[BaseModel] | None) -> str:
    loc = error["loc"]
    lower, upper = _bounds(owner, str(loc[-1]) if loc else "")
    if lower is not None and upper is not None:
        return f"{value} is not within {lower}..{upper}"
    return f"{value}: {error['msg'][0].lower()}{error['msg'][1:]}"


def _message(error: ErrorDetails, model: type[BaseModel] | None, secret: bool) -> str:
    kind = error["type"]
    raw = error.get("input")
    value = "the value" if secret else show(raw)
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return _unknown_field(error, _owner(model, loc))
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{value} is not one of {expected}"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return _out_of_bounds(error, value, _owner(model, loc))
    if kind == "too_long":
        return (
            f"has {ctx.get('actual_length')} entries, more than the limit of "
            f"{ctx.get('max_length')}"
        )
    typed = _typed(kind, value, raw, ctx)
    if typed is not None:
        return typed
    if kind in _PLAIN:
        return _PLAIN[kind].format(value=value, **ctx)
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return message
    return f"{value} is invalid: {message[0].lower()}{message[1:]}"


def describe_errors(
    exc: ValidationError,
    *,
    field_label: Callable[[str], str] | None = None,
    model: type[BaseModel] | None = None,
    secret_fields: Collection[str] = (),
    suffix: str = "",
) -> list[str]:
    """One line per pydantic error: ``<field>: <the bad value and what is wrong with it>``.

    Args:
        exc: The validation error.
        field_label: Turns the top-level field name into its label (``ACCOUNT_ID``,
            ``accounts[1].account_id``); the default keeps it.
        model: The model validated, for declared bounds and known fields.
        secret_fields: Top-level fields whose value must never be shown.
        suffix: Appended to every line (``" (account DU1)"``).
    """
    label_of = field_label or (lambda field: field)
    lines = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        field = loc[0] if loc and isinstance(loc[0], str) else ""
        rest = field_path(tuple(loc[1:] if field else loc))
        label = label_of(field) + (rest if rest.startswith("[") or not rest else f".{rest}")
        message = f"{_message(error, model, field in secret_fields)}{suffix}"
        lines.append(f"{label}: {message}" if label else message)
    return lines
