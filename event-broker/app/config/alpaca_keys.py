"""Alpaca API key pairs from the environment: the daemon's one pair, or one pair per account.

An Alpaca key pair belongs to exactly one Alpaca account, so an owner with several Alpaca
accounts needs several pairs. They come from variables named after the account they belong
to (the account id is Alpaca's account number, as in ``accounts.yaml``)::

    ALPACA_API_KEY_ID, ALPACA_API_SECRET_KEY                        # the pair of the one account
    ALPACA_<ACCOUNT>_API_KEY_ID, ALPACA_<ACCOUNT>_API_SECRET_KEY    # e.g. ALPACA_PA3X7Q_API_KEY_ID

``<ACCOUNT>`` is the account id in upper case with ``-`` written ``_``. An account's own pair
wins over the daemon's; the daemon's pair may serve one tradable account only (a second
account on it would trade with the first one's keys: the connector refuses that at connect,
but the daemon refuses it at start). Names that embed an account id cannot be declared as
settings fields, so ``load_settings`` collects them here from the environment and ``.env``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from broker_connector_base import InvalidInputError
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, SecretStr

__all__ = [
    "ALPACA_KEY_VARIABLES",
    "AlpacaKeyPair",
    "account_key_variables",
    "account_variable_part",
    "environment_variables",
    "is_alpaca_key_variable",
    "read_account_keys",
]

ALPACA_KEY_VARIABLES = ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY")
"""The daemon's own pair (settings ``alpaca_api_key_id``, ``alpaca_api_secret_key``)."""

_KEY_VARIABLE = re.compile(r"^ALPACA_(?:(?P<account>.+)_)?API_(?P<part>KEY_ID|SECRET_KEY)$")


class AlpacaKeyPair(BaseModel):
    """One Alpaca API key pair (one account's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: SecretStr
    secret_key: SecretStr


def account_key_variables(account_id: str) -> tuple[str, str]:
    """The variables holding ``account_id``'s own pair: ``(ALPACA_<ID>_API_KEY_ID, ...)``."""
    name = account_variable_part(account_id)
    return f"ALPACA_{name}_API_KEY_ID", f"ALPACA_{name}_API_SECRET_KEY"


def account_variable_part(account_id: str) -> str:
    """How ``account_id`` is written inside a variable name (upper case, ``-`` as ``_``)."""
    return account_id.upper().replace("-", "_")


def is_alpaca_key_variable(name: str) -> bool:
    """Whether ``name`` holds half of an Alpaca key pair (the daemon's or an account's)."""
    return _KEY_VARIABLE.match(name.upper()) is not None


def environment_variables(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    """``environ`` over the ``.env`` file's values, names upper-cased, empty values dropped.

    The same precedence and empty-means-unset rule as the settings themselves.
    """
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        for name, value in dotenv_values(env_file, encoding="utf-8").items():
            if value:
                merged[name.upper()] = value
    for name, value in environ.items():
        if value:
            merged[name.upper()] = value
        else:
            merged.pop(name.upper(), None)
    return merged


def read_account_keys(variables: Mapping[str, str]) -> dict[str, AlpacaKeyPair]:
    """The per-account pairs among ``variables``, by account part of the name (``PA3X7Q``).

    The daemon's own pair (``ALPACA_API_KEY_ID``...) is not included: it is an ordinary
    setting.

    Raises:
        InvalidInputError: Half a pair is set; the message names the missing variable (and
            never a value).
    """
    halves: dict[str, dict[str, SecretStr]] = {}
    for name, value in variables.items():
        match = _KEY_VARIABLE.match(name.upper())
        if match is None or match["account"] is None:
            continue
        halves.setdefault(match["account"], {})[match["part"]] = SecretStr(value)
    pairs: dict[str, AlpacaKeyPair] = {}
    problems: list[str] = []
    for account, half in sorted(halves.items()):
        key_id, secret = half.get("KEY_ID"), half.get("SECRET_KEY")
        if key_id is None or secret is None:
            present, missing = ("API_KEY_ID", "API_SECRET_KEY")
            if key_id is None:
                present, missing = missing, present
            problems.append(
                f"ALPACA_{account}_{missing}: is required when ALPACA_{account}_{present} is set "
                "(an Alpaca key pair is a key id and its secret)"
            )
            continue
        pairs[account] = AlpacaKeyPair(key_id=key_id, secret_key=secret)
    if problems:
        raise InvalidInputError("invalid settings:\n" + "\n".join(problems))
    return pairs
