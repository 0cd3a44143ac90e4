"""Writes data/SOURCES.md: every corpus document and the guideline it summarises.

    python -m scripts.sources_table          # rewrite SOURCES.md
    python -m scripts.sources_table --check  # exit 1 when SOURCES.md is out of date

Reads the YAML front matter of the Markdown sources (data/guidelines/*.md and
data/guidelines_src/*.md, the latter rendered to HTML or PDF by scripts/build_corpus_formats.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "guidelines"
RENDERED_FROM = ROOT / "data" / "guidelines_src"
TABLE = ROOT / "data" / "SOURCES.md"

HEADER = """# Sources of the demonstration corpus

Every document in data/guidelines/ is a summary written for this project, in its own words, of the
public guideline named below. The corpus exists to demonstrate and test the pipeline; it is
**not for clinical use**: read the guideline itself before acting on anything here.

| document | format | summarises | issuer | year | link |
|---|---|---|---|---|---|
"""


def front_matter(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    _, block, _ = text.split("---", 2)
    data = yaml.safe_load(block)
    assert isinstance(data, dict), f"{path.name}: front matter is not a mapping"
    return data


def shipped_format(doc_id: str) -> str:
    for suffix in (".md", ".html", ".pdf", ".txt"):
        if (CORPUS / f"{doc_id}{suffix}").exists():
            return suffix.lstrip(".").upper()
    return "missing"


def render() -> str:
    sources = sorted([*CORPUS.glob("*.md"), *RENDERED_FROM.glob("*.md")], key=lambda p: p.stem)
    rows = []
    for path in sources:
        if path.name == TABLE.name:
            continue
        meta = front_matter(path)
        doc_id = str(meta["id"])
        guideline = str(meta["guideline"]).replace("|", "/")
        rows.append(
            f"| `{doc_id}` | {shipped_format(doc_id)} | {guideline} | {meta['issuer']} "
            f"| {meta['year']} | {meta['url']} |"
        )
    return HEADER + "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TABLE.exists() or TABLE.read_text(encoding="utf-8") != text:
            print("data/SOURCES.md is out of date: run python -m scripts.sources_table")
            return 1
        return 0
    TABLE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
