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

import json
from collections.abc import Collection, Hashable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from broker_connector_base.document_errors import describe_errors, field_path, show
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
