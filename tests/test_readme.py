"""The README's configuration table is the one the settings classes produce."""

from __future__ import annotations

from pathlib import Path

from scripts import config_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_config_table_matches_the_settings() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(config_table.BEGIN), text.index(config_table.END)
    embedded = text[start : end + len(config_table.END)]
    assert embedded == config_table.render(), "run: python -m scripts.config_table"


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
