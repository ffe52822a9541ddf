"""The ``.env`` file, checked line by line before pydantic-settings reads it.

python-dotenv skips a line it cannot parse with a warning that names neither the file nor the
variable, so a broken ``ALLOCATIONS_API_KEY="...`` line silently becomes "no key". Here every
line must parse (``KEY=value``, comments, blank lines, ``export KEY=value``), the file must be
UTF-8 text of reasonable size, and a path that is a directory, or missing when it was named
explicitly (``--env-file``), is an error naming it. Values are never shown: they are secrets.
"""

from __future__ import annotations

import io
import re
from collections.abc import Collection
from pathlib import Path

from broker_connector_base import InvalidInputError
from broker_connector_base.documents import read_text_file
from dotenv.parser import parse_stream

__all__ = ["ENV_DOCUMENT", "check_env_file"]

ENV_DOCUMENT = "env file"
_MAX_ENV_BYTES = 262_144
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")


def check_env_file(path: Path, *, required: bool, known: Collection[str] = ()) -> bool:
    """Whether ``path`` is a usable env file to read; refuse one that is not.

    Args:
        path: The dotenv file.
        required: It was named explicitly, so it must exist.
        known: Variable names that may be shown when a line holds nothing but a name (any
            other lone word may be a pasted secret).

    Returns:
        False when it does not exist and was not required (there is nothing to read).

    Raises:
        InvalidInputError: A directory, missing while required, unreadable, not UTF-8, too
            large, or a line that does not parse (its number and the name before ``=``).
    """
    if not required and not path.exists() and not path.is_symlink():
        return False
    text = read_text_file(path, document=ENV_DOCUMENT, max_bytes=_MAX_ENV_BYTES)
    names = {name.upper() for name in known}
    bindings = parse_stream(io.StringIO(text))
    problems = [p for p in (_problem(b, names) for b in bindings) if p is not None]
    if problems:
        first, *rest = problems
        raise InvalidInputError(
            f"{ENV_DOCUMENT}: {first}" + "".join(f"\n{path}: {ENV_DOCUMENT}: {p}" for p in rest),
            str(path),
        )
    return True


def _problem(binding: object, known: Collection[str]) -> str | None:
    """What is wrong with one parsed line, ``None`` when nothing is."""
    original = getattr(binding, "original", None)
    line = getattr(original, "line", "?")
    key = getattr(binding, "key", None)
    if getattr(binding, "error", False):
        text = str(getattr(original, "string", "")).strip()
        start, equals, _ = text.partition("=")
        name = start.strip().removeprefix("export ").strip()
        if equals and _NAME.match(name):
            return f"line {line}: the value of {name} does not parse (unclosed quote?)"
        # No variable name before "=": the line may be a pasted secret, so none of it is shown.
        return f"line {line} is not KEY=value (its text is not shown: it may be a secret)"
    if key is not None and getattr(binding, "value", "") is None:
        if key.upper() in known:
            return f"line {line}: {key!r} has no '=' (write {key}=value, or {key}= for unset)"
        return f"line {line} is not KEY=value (its text is not shown: it may be a secret)"
    return None
