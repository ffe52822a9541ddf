"""Reading ``accounts.yaml`` and ``replacement-sets.yaml``, with messages an operator can act on.

Both files go through the strict document gates of ``broker_connector_base.documents`` (size
limit, UTF-8, duplicate keys refused, exact numbers, strict types: ``"5"`` is not a number,
``"yes"`` is not true), and every problem is one line naming the file, the entry, the field
and the value. The replacement sets are parsed by the engine's own parser
(``ReplacementService``), the one every worker uses, so the daemon never accepts a file a
worker would refuse.

**A bad entry in accounts.yaml.** The file as a whole must be usable: unreadable, not YAML,
not ``{accounts: [...]}``, an unknown top-level key, or no valid entry at all refuse the
start (exit 2). A bad *entry* (a wrong field or value, an id used twice, an unknown or broken
replacement set, an ``order_type`` its broker cannot send) is not served: that account is
never traded, and it is said loudly: a CRITICAL log line and a notification at start, a
refused run journalled and notified for every signal of its strategy, an error for a CLI run
of it, and ``--check`` lists it. The other accounts go on. An owner running real money loses
less that way than by either alternative: refusing everything stops every account for one
typo (missed rebalances everywhere, found late), and skipping the entry silently would leave
one account untraded without anyone knowing. Invalid entries are never guessed at: none of
their fields is used except to say which account and strategy they were meant to be.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker_connector_base import AccountConfig, InvalidInputError
from broker_connector_base.documents import (
    describe_errors,
    parse_yaml,
    read_text_file,
    show,
)
from broker_connector_base.plan import STRATEGY_NAME_PATTERN
from pydantic import ValidationError
from rebalance_engine.replacement_service import ReplacementService

from app.trading.order_types import order_type_problem

__all__ = [
    "ACCOUNTS_DOCUMENT",
    "AccountsFile",
    "InvalidAccount",
    "describe_errors",
    "load_accounts_file",
    "load_replacement_sets",
    "show",
]

ACCOUNTS_DOCUMENT = "accounts file"

_STRATEGY_RE = re.compile(STRATEGY_NAME_PATTERN)


@dataclass(frozen=True)
class InvalidAccount:
    """An ``accounts.yaml`` entry that is not served until it is fixed.

    Attributes:
        index: Its position in the ``accounts`` list.
        account_id: The id it gives, when it gives one as text (``None`` otherwise).
        strategy_names: The strategies it names, as far as they are names.
        problems: One line per problem, each naming the field and the value.
        source: The accounts file.
    """

    index: int
    account_id: str | None
    strategy_names: tuple[str, ...]
    problems: tuple[str, ...]
    source: str

    @property
    def label(self) -> str:
        """``accounts[2] (account DU3)``: how messages name the entry."""
        named = f" (account {self.account_id})" if self.account_id else ""
        return f"accounts[{self.index}]{named}"

    def error(self) -> InvalidInputError:
        """Why the entry is not served, as the error a run of it reports."""
        lines = "\n".join(f"  {line}" for line in self.problems)
        return InvalidInputError(
            f"{self.label} is not served (never traded) until its entry is fixed:\n{lines}",
            self.source,
        )


@dataclass(frozen=True)
class AccountsFile:
    """The valid accounts in file order, and the entries that are not served."""

    accounts: tuple[AccountConfig, ...]
    invalid: tuple[InvalidAccount, ...] = ()


def load_replacement_sets(path: Path) -> ReplacementService:
    """The replacement sets file, parsed by the engine's parser (``ReplacementService``).

    Raises:
        InvalidInputError: The file is unusable as a whole (a problem inside one set makes only
            that set invalid: ``ReplacementService.invalid_sets``).
    """
    return ReplacementService.from_yaml(path)


def _fail(source: str, lines: list[str]) -> InvalidInputError:
    """One error carrying every line, each prefixed with the file so it stands alone."""
    first, *rest = lines
    return InvalidInputError(first + "".join(f"\n{source}: {line}" for line in rest), source)


def _accounts_list(data: Any) -> tuple[list[Any], list[str]]:
    """The raw ``accounts`` list, or the structural problems of the document."""
    if data is None:
        return [], ["is empty; expected a mapping with an 'accounts' list"]
    if not isinstance(data, dict):
        return [], [f"top level must be a mapping with an 'accounts' list, got {show(data)}"]
    problems = [
        f"{show(key)}: unknown top-level key (expected: accounts)"
        for key in data
        if key != "accounts"
    ]
    raw = data.get("accounts")
    if "accounts" not in data:
        problems.append("accounts: is required (a list of accounts)")
    elif raw is None:
        raw = []
    elif not isinstance(raw, list):
        problems.append(f"accounts: must be a list of accounts, got {show(raw)}")
    return (raw if isinstance(raw, list) else []), problems


def _named_strategies(entry: Mapping[Any, Any]) -> tuple[str, ...]:
    """The strategy names an entry gives, as far as they are names (invalid entries too)."""
    names: list[Any] = [entry.get("strategy_name")]
    listed = entry.get("strategies")
    if isinstance(listed, list):
        names += [item.get("name") for item in listed if isinstance(item, dict)]
    return tuple(n for n in names if isinstance(n, str) and _STRATEGY_RE.match(n))


def _entry(index: int, entry: Any, source: str) -> AccountConfig | InvalidAccount:
    """One entry of the ``accounts`` list, validated strictly."""
    label = f"accounts[{index}]"
    if not isinstance(entry, dict):
        problem = f"{label}: must be a mapping of account fields, got {show(entry)}"
        return InvalidAccount(index, None, (), (problem,), source)
    account_id = entry.get("account_id")
    account_id = account_id if isinstance(account_id, str) and account_id else None
    suffix = f" (account {account_id})" if account_id else ""
    try:
        return AccountConfig.model_validate(entry, strict=True)
    except ValidationError as exc:
        lines = describe_errors(
            exc,
            field_label=lambda field: f"{label}.{field}" if field else label,
            model=AccountConfig,
            suffix=suffix,
        )
        return InvalidAccount(index, account_id, _named_strategies(entry), tuple(lines), source)


def _set_problem(account: AccountConfig, index: int, sets: ReplacementService | None) -> str | None:
    name = account.replacement_set
    if name is None:
        return None
    where = f"accounts[{index}].replacement_set: {name!r}"
    if sets is None or name not in sets.set_names():
        known = ", ".join(sorted(sets.set_names())) if sets is not None else ""
        return f"{where} is not a known replacement set (known: {known or 'none defined'})"
    broken = sets.invalid_sets().get(name)
    return f"{where} is invalid: {broken}" if broken is not None else None


def load_accounts_file(path: Path, *, replacement_sets: ReplacementService | None) -> AccountsFile:
    """Read and validate the accounts file (see the module docstring for the policy).

    Args:
        path: ``accounts.yaml`` (``accounts: [ {account_id, type, ...}, ... ]``).
        replacement_sets: The replacement sets, ``None`` when there is no file.

    Returns:
        The valid accounts in file order, and the entries not served.

    Raises:
        InvalidInputError: The file is unusable as a whole: unreadable, not YAML, a bad
            structure, or not one valid entry (every problem, one line each).
    """
    source = str(path)
    data = parse_yaml(
        read_text_file(path, document=ACCOUNTS_DOCUMENT), document=ACCOUNTS_DOCUMENT, source=source
    )
    raw, problems = _accounts_list(data)
    if problems:
        raise _fail(source, problems)
    parsed = [_entry(index, entry, source) for index, entry in enumerate(raw)]
    # Ids compare case-insensitively: lock and state files are named after them. Which of two
    # entries with one id is meant cannot be known: neither is served.
    ids = [p.account_id.upper() for p in parsed if p.account_id is not None]
    accounts: list[AccountConfig] = []
    invalid: list[InvalidAccount] = []
    for index, item in enumerate(parsed):
        if isinstance(item, InvalidAccount):
            invalid.append(item)
            continue
        problem = _set_problem(item, index, replacement_sets) or order_type_problem(item, index)
        if ids.count(item.account_id.upper()) > 1:
            problem = f"accounts[{index}].account_id: {item.account_id!r} is used by another entry"
        if problem is None:
            accounts.append(item)
        else:
            lines = (f"{problem} (account {item.account_id})",)
            invalid.append(
                InvalidAccount(index, item.account_id, item.strategy_names, lines, source)
            )
    if invalid and not accounts:
        raise _fail(source, [line for entry in invalid for line in entry.problems])
    return AccountsFile(tuple(accounts), tuple(invalid))
