"""Stable IB API client ids per account.

IB Gateway allows one connection per client id, so every account needs its own id, and the id
must be the same in every process and after every restart (a daemon restart must not collide
with a connection the gateway still holds). Python's ``hash()`` is salted per process, so it is
not used; the id is the account id's digits, as the original daemon did ("extracted from
account IDs", ``DUM959247`` -> ``959247``), or a BLAKE2 digest of the account id when the
digits do not make a usable id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from broker_connector_base import AccountConfig, InvalidInputError

__all__ = ["MAX_CLIENT_ID", "MIN_CLIENT_ID", "assign_client_ids", "client_id_for"]

MIN_CLIENT_ID = 100
"""Ids below this (including 0, the gateway's "master" client) are left to manual tools."""

MAX_CLIENT_ID = 2**31 - 1
"""IB client ids are signed 32-bit integers."""

_DIGITS = re.compile(r"\d+")


def client_id_for(account_id: str) -> int:
    """The IB API client id for ``account_id``, identical in every process and run.

    The digits of the account id (``DUM959247`` -> ``959247``) when they form a number in
    ``MIN_CLIENT_ID..MAX_CLIENT_ID``; otherwise a BLAKE2b digest of the id folded into that
    range.

    Args:
        account_id: The broker account id.

    Returns:
        An integer in ``MIN_CLIENT_ID..MAX_CLIENT_ID``.

    Raises:
        InvalidInputError: ``account_id`` is empty.
    """
    account_id = account_id.strip()
    if not account_id:
        raise InvalidInputError("account id is empty; cannot derive an IB client id")
    digits = "".join(_DIGITS.findall(account_id))
    if digits:
        number = int(digits)
        if MIN_CLIENT_ID <= number <= MAX_CLIENT_ID:
            return number
    digest = hashlib.blake2b(account_id.encode("utf-8"), digest_size=8).digest()
    span = MAX_CLIENT_ID - MIN_CLIENT_ID + 1
    return MIN_CLIENT_ID + int.from_bytes(digest, "big") % span


def assign_client_ids(accounts: Iterable[AccountConfig]) -> dict[str, int]:
    """Client ids for every account, refusing two accounts that would share one.

    Only accounts of the same ``type`` can collide: a paper and a live account never connect
    to the same gateway (a gateway is logged in to one mode), so they may share an id.

    Args:
        accounts: The configured accounts.

    Returns:
        ``{account_id: client_id}`` for every account.

    Raises:
        InvalidInputError: Two accounts of the same type map to the same client id.
    """
    ids: dict[str, int] = {}
    owners: dict[tuple[str, int], str] = {}
    for account in accounts:
        client_id = client_id_for(account.account_id)
        other = owners.get((account.type, client_id))
        if other is not None and other != account.account_id:
            raise InvalidInputError(
                f"accounts {other} and {account.account_id} would both use IB client id "
                f"{client_id}; rename one of them or remove one from the file"
            )
        owners[(account.type, client_id)] = account.account_id
        ids[account.account_id] = client_id
    return ids
