"""The README's ten-line alpaca-py script, run as written against ``python -m alpaca_api_sim``."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_README_URL = "http://127.0.0.1:8765"


def _block(text: str, heading: str, language: str) -> str:
    section = text.split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match is not None, f"no ```{language} block after {heading!r}"
    return match.group(1)


@pytest.fixture
def stand_in() -> Iterator[str]:
    """``python -m alpaca_api_sim --port 0``; yields its URL from the readiness line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "alpaca_api_sim", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"alpaca_api_sim listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match is not None, f"unexpected readiness line {line!r}"
        yield match.group(1)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.timeout(60)
def test_readme_script_prints_the_documented_output(stand_in: str) -> None:
    text = README.read_text(encoding="utf-8")
    script = _block(text, "## The ten-line check", "python")
    expected = _block(text.split("## The ten-line check", 1)[1], "Output:", "")
    assert _README_URL in script
    # The only change: the port the started stand-in picked instead of the README's 8765.
    result = subprocess.run(
        [sys.executable, "-c", script.replace(_README_URL, stand_in)],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
