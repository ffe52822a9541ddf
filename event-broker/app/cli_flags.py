"""Strict command-line flags, shared by ``app.cli`` and ``app.backtests.cli``.

argparse matches a single-dash flag by its prefix even with ``allow_abbrev=False`` (``-acc``
would be ``-account``) and lets a repeated flag silently win over the first. Here every flag is
spelled out (``refuse_unknown``) and given at most once (``flag``): anything else exits 2
naming the word.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Once", "flag", "given", "refuse_unknown"]


class Once(argparse.Action):
    """Store a flag's value, refusing the flag when it is given twice (no silent last-wins)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if self.dest in given(namespace):
            parser.error(f"argument {option_string}: given more than once")
        namespace._given = (*given(namespace), self.dest)
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def given(namespace: argparse.Namespace) -> tuple[str, ...]:
    """The destinations of the flags given on the command line, in order."""
    names: tuple[str, ...] = getattr(namespace, "_given", ())
    return names


def flag(
    parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup, name: str, **kwargs: Any
) -> tuple[str, ...]:
    """``-name``/``--name`` given at most once; ``nargs=0`` for an on/off switch.

    Returns:
        The option strings.
    """
    if kwargs.get("nargs") == 0:
        kwargs.setdefault("default", False)
    names = (f"-{name}", f"--{name}")
    parser.add_argument(*names, action=Once, **kwargs)
    return names


def refuse_unknown(parser: argparse.ArgumentParser, words: Iterable[str], known: set[str]) -> None:
    """Exit 2 (``parser.error``) on the first flag-like word that is not spelled out in full.

    A word starting with ``-`` that reads as a number (``-0.5``) is a value, not a flag.
    """
    for word in words:
        name = word.partition("=")[0]
        if word.startswith("-") and name not in known and not _number(word):
            parser.error(f"unrecognized arguments: {word} (flags are never abbreviated)")


def _number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True
