"""Stable IB client ids derived from account ids."""

from __future__ import annotations

import subprocess
import sys

import pytest
from app.trading.client_ids import MAX_CLIENT_ID, MIN_CLIENT_ID, assign_client_ids, client_id_for
from broker_connector_base import AccountConfig, InvalidInputError
from hypothesis import given
from hypothesis import strategies as st


def account(account_id: str, type_: str = "paper") -> AccountConfig:
    return AccountConfig.model_validate(
        {"account_id": account_id, "type": type_, "strategy_name": "s"}
    )


@pytest.mark.parametrize(
    ("account_id", "expected"),
    [("DUM959247", 959247), ("DU789012", 789012), ("U1234567", 1234567)],
)
def test_client_id_for_account_with_digits_uses_the_digits(account_id: str, expected: int) -> None:
    assert client_id_for(account_id) == expected


@pytest.mark.parametrize("account_id", ["PAPER", "DU0000007", "DU99999999999", "DU5"])
def test_client_id_for_unusable_digits_falls_back_to_digest_in_range(account_id: str) -> None:
    client_id = client_id_for(account_id)

    assert MIN_CLIENT_ID <= client_id <= MAX_CLIENT_ID
    assert client_id == client_id_for(account_id)


def test_client_id_for_is_identical_in_a_fresh_interpreter_with_other_hash_seed() -> None:
    ids = ["PAPER", "live-main", "DU5"]
    code = (
        "from app.trading.client_ids import client_id_for;"
        f"print([client_id_for(a) for a in {ids!r}])"
    )
    env = {"PYTHONHASHSEED": "12345", "PYTHONPATH": ":".join(sys.path)}

    output = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout

    assert output.strip() == str([client_id_for(a) for a in ids])


def test_client_id_for_empty_account_id_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="account id is empty"):
        client_id_for("  ")


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1).filter(str.strip))
def test_client_id_for_any_id_is_within_range(account_id: str) -> None:
    assert MIN_CLIENT_ID <= client_id_for(account_id) <= MAX_CLIENT_ID


def test_assign_client_ids_collision_names_both_accounts() -> None:
    with pytest.raises(InvalidInputError, match="accounts DU123456 and DUX123456 would both use"):
        assign_client_ids([account("DU123456"), account("DUX123456")])


def test_assign_client_ids_same_digits_in_paper_and_live_do_not_collide() -> None:
    ids = assign_client_ids([account("DU123456"), account("U123456", "live")])

    assert ids == {"DU123456": 123456, "U123456": 123456}
