"""Strict reading of every document that comes from outside: files, HTTP bodies, messages.

One pydantic model per document, validated in strict mode (``validate_document``): a number
written as text, text where a number belongs, an unknown or misspelt field, a list too long
are refused, never coerced or ignored. Every refusal is an ``InvalidInputError`` whose
``source`` is the file or URL and whose message names the document, the field and the bad
value, one line per problem, in one format (``describe_errors``).

Before a model sees anything, the raw bytes pass the same gates: a size limit, strict UTF-8
(the error gives the offset of the first bad byte), and JSON or YAML parsing that keeps
numbers exact (``Decimal``), refuses duplicate keys, ``NaN``/``Infinity`` and (YAML) alias
expansion beyond a node budget.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Collection, Hashable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import annotated_types
import yaml
from pydantic import BaseModel, RootModel, ValidationError
from pydantic_core import ErrorDetails

from broker_connector_base.exceptions import InvalidInputError

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_YAML_NODES",
    "decode_utf8",
    "describe_errors",
    "field_path",
    "parse_json",
    "parse_yaml",
    "read_text_file",
    "show",
    "validate_document",
]

MAX_DOCUMENT_BYTES = 1_048_576
"""Default size limit of a document (1 MiB): far above any real one, far below a memory risk."""

MAX_YAML_NODES = 100_000
"""Nodes a YAML document may expand to, aliases counted each time they are used."""

_EXCERPT_CHARS = 80

M = TypeVar("M", bound=BaseModel)


# --------------------------------------------------------------------------------------------
# Bytes and text
# --------------------------------------------------------------------------------------------


def decode_utf8(
    raw: bytes, *, document: str, source: str, max_bytes: int = MAX_DOCUMENT_BYTES
) -> str:
    """``raw`` as text, refusing more than ``max_bytes`` and anything but UTF-8.

    A UTF-8 byte order mark is dropped (editors on Windows write one).

    Raises:
        InvalidInputError: Too large, or not UTF-8 (naming the offset of the first bad byte).
    """
    if len(raw) > max_bytes:
        raise InvalidInputError(
            f"{document} is {len(raw)} bytes, more than the limit of {max_bytes}", source
        )
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise InvalidInputError(
            f"{document} is not UTF-8 text: byte 0x{bad} at offset {exc.start} ({exc.reason})",
            source,
        ) from None


def read_text_file(path: Path, *, document: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    """The UTF-8 text of ``path``, with errors that name it.

    Raises:
        InvalidInputError: Missing, a directory, unreadable, larger than ``max_bytes`` (checked
            before reading it), or not UTF-8.
    """
    source = str(path)
    try:
        if path.is_dir():
            raise InvalidInputError(f"{document} is a directory, not a file", source)
        size = path.stat().st_size
        if size > max_bytes:
            raise InvalidInputError(
                f"{document} is {size} bytes, more than the limit of {max_bytes}", source
            )
        # One byte past the limit: a file that grew since stat() is still caught.
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise InvalidInputError(
            f"{document} not found (looked at {path.absolute()})", source
        ) from None
    except OSError as exc:
        raise InvalidInputError(
            f"{document} cannot be read: {exc.strerror or exc}", source
        ) from None
    return decode_utf8(raw, document=document, source=source, max_bytes=max_bytes)


# --------------------------------------------------------------------------------------------
# JSON and YAML
# --------------------------------------------------------------------------------------------


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _EXCERPT_CHARS else flat[:_EXCERPT_CHARS] + "...")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number this document may hold")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears more than once in one object")
        out[key] = value
    return out


def parse_json(text: str, *, document: str, source: str) -> Any:
    """Parse JSON text, numbers with a fraction or exponent as exact ``Decimal``.

    Raises:
        InvalidInputError: Not JSON (with line and column), a duplicate key, ``NaN`` or
            ``Infinity``, or nested too deeply.
    """
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{document} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}: "
            f"{_excerpt(text)}",
            source,
        ) from None
    except ValueError as exc:
        raise InvalidInputError(f"{document} is not valid: {exc}", source) from None
    except RecursionError:
        raise InvalidInputError(f"{document} is nested too deeply", source) from None


class _StrictYamlLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses duplicate keys and reads floats as exact ``Decimal``."""


def _unique_mapping(loader: _StrictYamlLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Hashable] = set()
    loader.flatten_mapping(node)  # merge keys (<<: *defaults) first: they may be overridden
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, Hashable):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
    return loader.construct_mapping(node, deep=True)


def _exact_float(loader: _StrictYamlLoader, node: yaml.ScalarNode) -> Any:
    text = str(loader.construct_scalar(node)).replace("_", "").lower()
    if text.lstrip("+-") in {".inf", ".nan"}:
        # Kept as a float so that the model refuses it naming the value (allow_inf_nan).
        return yaml.SafeLoader.construct_yaml_float(loader, node)
    return Decimal(text)


_StrictYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)
_StrictYamlLoader.add_constructor("tag:yaml.org,2002:float", _exact_float)


def _node_count(root: yaml.Node, budget: int) -> int:
    """Nodes ``root`` expands to, counting an alias each time it is used; stops past ``budget``.

    A few lines of nested aliases expand to billions of nodes ("billion laughs"): the loader
    shares them, but validating walks every one.
    """
    count, stack = 0, [root]
    while stack and count <= budget:
        node = stack.pop()
        count += 1
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return count


def parse_yaml(text: str, *, document: str, source: str, max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse YAML text strictly: duplicate keys refused, floats exact, expansion bounded.

    Raises:
        InvalidInputError: Not YAML (with line and column), a duplicate key, more than one
            document, or more than ``max_nodes`` nodes once aliases are expanded.
    """
    loader: _StrictYamlLoader | None = None
    try:
        # The reader checks the characters in its constructor: it belongs inside the try.
        loader = _StrictYamlLoader(text)
        root = loader.get_single_node()
        if root is None:
            return None
        if _node_count(root, max_nodes) > max_nodes:
            raise InvalidInputError(
                f"{document} expands to more than {max_nodes} values (aliases counted)", source
            )
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInputError(f"{document} is not valid YAML: {problem}{where}", source) from None
    except RecursionError:
        raise InvalidInputError(f"{document} is nested too deeply", source) from None
    finally:
        if loader is not None:
            loader.dispose()


# --------------------------------------------------------------------------------------------
# Models and messages
# --------------------------------------------------------------------------------------------


def validate_document(
    model: type[M],
    data: Any,
    *,
    document: str,
    source: str,
    secret_fields: Collection[str] = (),
) -> M:
    """``data`` validated as ``model`` in strict mode.

    Raises:
        InvalidInputError: With ``source``; one line per problem naming the document, the
            field and the bad value (never the value of a field in ``secret_fields``).
    """
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        lines = describe_errors(exc, model=model, secret_fields=secret_fields)
        raise InvalidInputError(_join(document, lines), source) from None
    except RecursionError:
        raise InvalidInputError(f"{document} is nested too deeply", source) from None


def _join(document: str, lines: list[str]) -> str:
    if len(lines) == 1:
        return f"{document}: {lines[0]}"
    return f"{document}: {len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines)


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
