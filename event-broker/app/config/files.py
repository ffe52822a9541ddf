"""Reading ``accounts.yaml`` and ``replacement-sets.yaml``, with messages an operator can act on.

Part of ``app.config.settings`` (split out to keep modules small): strict YAML (duplicate keys
are an error, not "last one wins"), and pydantic errors translated into one line per problem
that names the file, the entry and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable
from decimal import Decimal
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from broker_connector_base import AccountConfig, InvalidInputError
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

__all__ = [
    "describe_errors",
    "load_accounts",
    "load_replacement_set_names",
    "read_yaml",
]

_SET_ENTRY_KEYS = frozenset({"source", "target", "scale"})


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses duplicate keys in a mapping."""


def _construct_unique_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, Hashable):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


def _fail(source: str, lines: list[str]) -> InvalidInputError:
    """One error carrying every line, each prefixed with the file so it stands alone."""
    first, *rest = lines
    return InvalidInputError(first + "".join(f"\n{source}: {line}" for line in rest), source)


def read_yaml(path: Path) -> Any:
    """Parse ``path`` as YAML, refusing duplicate keys.

    Raises:
        InvalidInputError: The file is missing, unreadable or not valid YAML.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"file not found (looked at {path.absolute()})", source) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise InvalidInputError(f"cannot be read: {reason}", source) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInputError(f"is not valid YAML: {problem}{where}", source) from None


def show(value: Any) -> str:
    """A short, safe rendering of a configuration value for a message."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 80 else repr(value[:77] + "...")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


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


def _expected(ctx: dict[str, Any]) -> str:
    """``"'paper' or 'live'"`` -> ``"paper, live"``."""
    return str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")


def _message(error: ErrorDetails, model: type[BaseModel] | None, secret: bool) -> str:
    kind = error["type"]
    value = "the value" if secret else show(error.get("input"))
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        known = ", ".join(model.model_fields) if model is not None else ""
        return f"is not a known field (known: {known})" if known else "is not a known field"
    if kind == "literal_error":
        return f"{value} is not one of {_expected(ctx)}"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        field = str(error["loc"][0]) if error["loc"] else ""
        lower, upper = _bounds(model, field)
        if lower is not None and upper is not None:
            return f"{value} is not within {lower}..{upper}"
        return f"{value}: {error['msg'][0].lower()}{error['msg'][1:]}"
    if kind == "string_type" and isinstance(error.get("input"), int | float):
        return f"{value} is a number; write it in quotes (leading zeros are lost otherwise)"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    message = str(error["msg"])
    return f"{value} is invalid: {message[0].lower()}{message[1:]}"


def describe_errors(
    exc: ValidationError,
    *,
    field_label: Callable[[str], str],
    model: type[BaseModel] | None = None,
    secret_fields: Collection[str] = (),
    suffix: str = "",
) -> list[str]:
    """One line per pydantic error: ``<label>: <what is wrong>``.

    Args:
        exc: The validation error.
        field_label: Turns the top-level field name into its label (``ACCOUNT_ID``,
            ``accounts[1].account_id``).
        model: The model validated, for declared bounds and known fields.
        secret_fields: Fields whose value must never be shown.
        suffix: Appended to every line (``" (account DU1)"``).
    """
    lines = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        field = str(loc[0]) if loc else ""
        label = field_label(field) + "".join(f"[{part}]" for part in loc[1:])
        if not field:
            label = field_label("")
        lines.append(f"{label}: {_message(error, model, field in secret_fields)}{suffix}")
    return lines


def _account_errors(index: int, entry: Any) -> tuple[AccountConfig | None, list[str]]:
    """Validate one entry of the ``accounts`` list."""
    if not isinstance(entry, dict):
        return None, [f"accounts[{index}]: must be a mapping of account fields, got {show(entry)}"]
    account_id = entry.get("account_id")
    suffix = f" (account {account_id})" if isinstance(account_id, str) and account_id else ""
    try:
        return AccountConfig.model_validate(entry), []
    except ValidationError as exc:
        label = f"accounts[{index}]"
        return None, describe_errors(
            exc,
            field_label=lambda field: f"{label}.{field}" if field else label,
            model=AccountConfig,
            suffix=suffix,
        )


def _accounts_list(data: Any) -> tuple[list[Any], list[str]]:
    """The raw ``accounts`` list, or the structural problems of the document."""
    if data is None:
        return [], ["is empty; expected a mapping with an 'accounts' list"]
    if not isinstance(data, dict):
        return [], [f"top level must be a mapping with an 'accounts' list, got {show(data)}"]
    problems = [
        f"{key}: unknown top-level key (expected: accounts)" for key in data if key != "accounts"
    ]
    raw = data.get("accounts")
    if "accounts" not in data:
        problems.append("accounts: is required (a list of accounts)")
    elif raw is None:
        raw = []
    elif not isinstance(raw, list):
        problems.append(f"accounts: must be a list of accounts, got {show(raw)}")
    return (raw if isinstance(raw, list) else []), problems


def load_accounts(
    path: Path, *, replacement_set_names: Collection[str]
) -> tuple[AccountConfig, ...]:
    """Read and validate the accounts file.

    Args:
        path: ``accounts.yaml`` (``accounts: [ {account_id, type, ...}, ... ]``).
        replacement_set_names: Names defined in the replacement sets file.

    Returns:
        The accounts in file order.

    Raises:
        InvalidInputError: Every problem found, one line each: unreadable file, bad structure,
            invalid fields, duplicate account ids, unknown replacement sets.
    """
    source = str(path)
    raw, problems = _accounts_list(read_yaml(path))
    accounts: list[AccountConfig] = []
    first_index: dict[str, int] = {}
    known_sets = ", ".join(sorted(replacement_set_names)) or "none defined"
    for index, entry in enumerate(raw):
        account, errors = _account_errors(index, entry)
        problems.extend(errors)
        if account is None:
            continue
        # Ids compare case-insensitively: lock and state files are named after them.
        earlier = first_index.setdefault(account.account_id.upper(), index)
        if earlier != index:
            problems.append(
                f"accounts[{index}].account_id: {account.account_id!r} is already used by "
                f"accounts[{earlier}]"
            )
        if (
            account.replacement_set is not None
            and account.replacement_set not in replacement_set_names
        ):
            problems.append(
                f"accounts[{index}].replacement_set: {account.replacement_set!r} is not a "
                f"known replacement set (known: {known_sets}) (account {account.account_id})"
            )
        accounts.append(account)
    if problems:
        raise _fail(source, problems)
    return tuple(accounts)


def _set_entry_errors(label: str, entry: Any, sources: set[str]) -> list[str]:
    """Structural problems of one ``{source, target, scale}`` replacement entry."""
    if not isinstance(entry, dict):
        return [f"{label}: must be a mapping with source, target and scale, got {show(entry)}"]
    problems = [
        f"{label}.{key}: is not a known field (known: source, target, scale)"
        for key in entry
        if key not in _SET_ENTRY_KEYS
    ]
    for key in ("source", "target"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{label}.{key}: {show(value)} is not a symbol")
    source_symbol = str(entry.get("source", "")).strip().upper()
    if source_symbol and source_symbol == str(entry.get("target", "")).strip().upper():
        problems.append(f"{label}: source and target are both {source_symbol}")
    if source_symbol in sources:
        problems.append(f"{label}.source: {source_symbol} is replaced more than once in this set")
    sources.add(source_symbol)
    scale = entry.get("scale", 1)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 <= scale <= 1:
        problems.append(f"{label}.scale: {show(scale)} is not a number within 0..1")
    return problems


def load_replacement_set_names(path: Path) -> frozenset[str]:
    """Read the replacement sets file and return the set names after a structural check.

    The IBKR connector's ``ReplacementService`` parses the entries fully; this check lets the
    daemon refuse a broken file (and accounts naming unknown sets) at start.

    Raises:
        InvalidInputError: Every structural problem found, one line each.
    """
    data = read_yaml(path)
    if data is None:
        return frozenset()
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"top level must map set names to lists of replacements, got {show(data)}", str(path)
        )
    problems: list[str] = []
    for name, entries in data.items():
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{show(name)}: a set name must be non-empty text")
            continue
        if not isinstance(entries, list):
            problems.append(f"{name}: must be a list of replacements, got {show(entries)}")
            continue
        sources: set[str] = set()
        for index, entry in enumerate(entries):
            problems.extend(_set_entry_errors(f"{name}[{index}]", entry, sources))
    if problems:
        raise _fail(str(path), problems)
    return frozenset(str(name) for name in data)
