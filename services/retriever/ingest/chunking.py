"""Structure-aware chunking measured with the embedding model's own tokenizer.

A document is split by its sections first. Each chunk has a context line, "Title > Section >
Subsection", embedded (and matched lexically) in front of its passage, so that a passage is found
by what it is about even when its own words do not say it; the passage itself is kept apart, as
the clean text readers see and cite. The context line counts toward the model's window. A section
that fits the window (context line and special tokens included) is one chunk. A longer one is cut
into pieces of about ``target_tokens`` that end at a sentence or block boundary where one is
near, and each piece repeats about ``overlap_tokens`` from the end of the one before. No chunk
exceeds the window: the model would silently drop the tail of a longer one.

No chunk is mostly title. A document's lead (the text under the title before the first section
heading) shorter than ``LEAD_TOKENS`` opens the next section instead of being a chunk of its own:
a chunk of a title and a line such as "Source: ..." is close to every question that names the
document's topic, and on MedQuAD such chunks took first place from the passages that answer.

Only the tokenizer is loaded from the model folder (``transformers.AutoTokenizer``), never the
model. The fast tokenizer is not safe to share between threads, so one thread uses one Chunker.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.retriever.ingest.document import Document, Section

CONTEXT_SEPARATOR = " > "
#: Part of the fingerprint: a new version re-ingests every document (chunks change).
CHUNKING_VERSION = 2
# A document's lead shorter than this (tokens) opens the next section instead of standing alone.
LEAD_TOKENS = 128
# Longest context line, in tokens; longer heading paths keep the title and the last heading.
MAX_CONTEXT_TOKENS = 64
# A piece is never cut shorter than this many tokens to reach a sentence boundary.
MIN_PIECE_TOKENS = 64
# A longer section is chunked in parts of at most this many characters, cut between blocks (or,
# in a longer block, at a space), so tokenising never holds a huge text's tokens at once. Far
# above any real guideline section: their chunks are the same as without the cut.
MAX_PART_CHARS = 200_000
_SENTENCE_END = re.compile(r"[.!?;:](?=\s)\s+|\n")


@dataclass(frozen=True)
class Chunk:
    """One passage: its section path, its context line, its text, and its size embedded."""

    section_path: tuple[str, ...]
    context: str
    text: str
    #: Tokens the model sees for the context line and the text, special tokens included.
    token_count: int

    @property
    def embedded_text(self) -> str:
        """What is embedded: the context line, then the passage."""
        return f"{self.context}\n{self.text}"


def load_tokenizer(model_folder: Path) -> tuple[Any, int]:
    """The model's fast tokenizer and its window in tokens (``max_seq_length``)."""
    # Imported here so that the import (about a second) runs where the tokenizer is loaded, in
    # an executor thread, not when the CLI starts.
    from transformers import AutoTokenizer  # noqa: PLC0415

    tokenizer = AutoTokenizer.from_pretrained(str(model_folder))
    window = int(tokenizer.model_max_length)
    config = model_folder / "sentence_bert_config.json"
    if config.exists():
        window = int(json.loads(config.read_text(encoding="utf-8"))["max_seq_length"])
    return tokenizer, window


class Chunker:
    """Cuts documents into chunks of at most ``window`` tokens, special tokens included."""

    def __init__(
        self, tokenizer: Any, window: int, target_tokens: int = 200, overlap_tokens: int = 30
    ) -> None:
        self._tokenizer = tokenizer
        self.window = window
        self._special = int(tokenizer.num_special_tokens_to_add(pair=False))
        if not MIN_PIECE_TOKENS <= target_tokens <= window:
            raise ValueError(f"target_tokens must be {MIN_PIECE_TOKENS}..{window}")
        if not 0 <= overlap_tokens < MIN_PIECE_TOKENS // 2:
            raise ValueError(f"overlap_tokens must be 0..{MIN_PIECE_TOKENS // 2 - 1}")
        self.target_tokens = target_tokens
        self.overlap_tokens = overlap_tokens

    @classmethod
    def from_model_folder(
        cls, model_folder: Path, target_tokens: int = 200, overlap_tokens: int = 30
    ) -> Chunker:
        """A chunker using the tokenizer and window of the model in ``model_folder``."""
        tokenizer, window = load_tokenizer(model_folder)
        return cls(tokenizer, window, target_tokens, overlap_tokens)

    @property
    def fingerprint(self) -> str:
        """Identifies the chunking; part of each document's content hash, so that changing it
        re-ingests every document."""
        name = getattr(self._tokenizer, "name_or_path", "")
        sizes = f"{self.window}:{self.target_tokens}:{self.overlap_tokens}"
        return f"{Path(name).name}:{sizes}:v{CHUNKING_VERSION}"

    def count(self, text: str) -> int:
        """Tokens the model sees for ``text``, special tokens included."""
        return len(self._encode(text, special=True)["input_ids"])

    def _encode(self, text: str, special: bool) -> Any:
        return self._tokenizer(
            text,
            add_special_tokens=special,
            truncation=False,
            return_offsets_mapping=not special,
            verbose=False,
        )

    def chunk(self, document: Document) -> list[Chunk]:
        """All chunks of a document, section by section, in reading order."""
        return list(self.chunks(document))

    def chunks(self, document: Document) -> Iterator[Chunk]:
        """The chunks of :meth:`chunk` one at a time: a section is tokenised in parts of at
        most ``MAX_PART_CHARS`` characters, so the work in hand is bounded however long it is."""
        for section in self._sections(document):
            for part in _parts(section):
                yield from self._section(part)

    def _sections(self, document: Document) -> list[Section]:
        """The document's sections, a short lead joined to the section after it."""
        sections = list(document.sections)
        if len(sections) > 1 and len(sections[0].path) == 1:
            lead, following = sections[0], sections[1]
            if self.count("\n".join(lead.blocks)) < LEAD_TOKENS:
                sections[:2] = [Section(following.path, lead.blocks + following.blocks)]
        return sections

    def _context(self, path: tuple[str, ...]) -> str:
        context = CONTEXT_SEPARATOR.join(path)
        if self.count(context) - self._special > MAX_CONTEXT_TOKENS and len(path) > 2:
            context = CONTEXT_SEPARATOR.join((path[0], "…", path[-1]))
        encoded = self._encode(context, special=False)
        if len(encoded["input_ids"]) > MAX_CONTEXT_TOKENS:
            context = context[: encoded["offset_mapping"][MAX_CONTEXT_TOKENS - 1][1]] + " …"
        return context

    def _section(self, section: Section) -> list[Chunk]:
        context = self._context(section.path)
        body = "\n".join(section.blocks)
        whole_count = self.count(f"{context}\n{body}")
        if whole_count <= self.window:
            return [Chunk(section.path, context, body, whole_count)]
        context_tokens = self.count(context) - self._special
        room = self.window - self._special - context_tokens
        target = min(room, max(MIN_PIECE_TOKENS, self.target_tokens - context_tokens))
        encoded = self._encode(body, special=False)
        offsets: list[tuple[int, int]] = encoded["offset_mapping"]
        word_ids = encoded.word_ids()
        word_starts = [i for i in range(len(offsets)) if i == 0 or word_ids[i] != word_ids[i - 1]]
        sentence_chars = {0} | {match.end() for match in _SENTENCE_END.finditer(body)}
        sentence_starts = [i for i in word_starts if offsets[i][0] in sentence_chars]

        chunks: list[Chunk] = []
        start, total = 0, len(offsets)
        while start < total:
            end = self._piece_end(start, target, total, word_starts, sentence_starts)
            while True:
                text = body[offsets[start][0] : offsets[end - 1][1]]
                count = self.count(f"{context}\n{text}")
                if count <= self.window:
                    break
                word = _last_in(word_starts, start + 1, end - 1)
                end = word if word is not None else end - 1
            chunks.append(Chunk(section.path, context, text, count))
            if end >= total:
                break
            start = self._next_start(start, end, word_starts, sentence_starts)
        return chunks

    def _piece_end(
        self,
        start: int,
        target: int,
        total: int,
        word_starts: list[int],
        sentence_starts: list[int],
    ) -> int:
        """Token index just past the piece starting at ``start``: a sentence start when one
        lies in the second half of the target length, else a word start."""
        limit = start + target
        if limit >= total:
            return total
        sentence = _last_in(sentence_starts, start + target // 2, limit)
        if sentence is not None:
            return sentence
        word = _last_in(word_starts, start + 1, limit)
        return word if word is not None else limit

    def _next_start(
        self, start: int, end: int, word_starts: list[int], sentence_starts: list[int]
    ) -> int:
        """Where the next piece starts: about ``overlap_tokens`` before ``end``, at the first
        sentence start in that stretch when there is one, else at a word start."""
        lowest = max(start + 1, end - self.overlap_tokens)
        position = bisect.bisect_left(sentence_starts, lowest)
        if position < len(sentence_starts) and sentence_starts[position] <= end:
            return sentence_starts[position]
        position = bisect.bisect_left(word_starts, lowest)
        return word_starts[position] if position < len(word_starts) else end


def _last_in(sorted_values: list[int], low: int, high: int) -> int | None:
    """The largest value in ``[low, high]``, or None."""
    position = bisect.bisect_right(sorted_values, high)
    if position and sorted_values[position - 1] >= low:
        return sorted_values[position - 1]
    return None


def _parts(section: Section) -> Iterator[Section]:
    """The section itself when its text is at most ``MAX_PART_CHARS`` long, else consecutive
    sections of its blocks under the same path, each at most that long."""
    if sum(len(block) + 1 for block in section.blocks) <= MAX_PART_CHARS:
        yield section
        return
    blocks: list[str] = []
    size = 0
    for block in _bounded_blocks(section.blocks):
        if blocks and size + len(block) + 1 > MAX_PART_CHARS:
            yield Section(section.path, tuple(blocks))
            blocks, size = [], 0
        blocks.append(block)
        size += len(block) + 1
    if blocks:
        yield Section(section.path, tuple(blocks))


def _bounded_blocks(blocks: tuple[str, ...]) -> Iterator[str]:
    """The blocks, a block longer than ``MAX_PART_CHARS`` cut at spaces into shorter ones."""
    for block in blocks:
        rest = block
        while len(rest) > MAX_PART_CHARS:
            cut = rest.rfind(" ", 0, MAX_PART_CHARS)
            cut = cut if cut > 0 else MAX_PART_CHARS
            yield rest[:cut]
            rest = rest[cut:].lstrip()
        if rest:
            yield rest
