"""Query synonyms for the lexical side of search, from a YAML file that ships with the corpus.

The file (data/guidelines/synonyms.yaml for the project's corpus) has two parts:

- ``brands``: brand name → generic name, one way: the corpus names drugs only generically, so
  "Eliquis" in a query searches for "apixaban" as well, never the other way round;
- ``equivalents``: groups of terms that mean the same (an abbreviation, its expansion, a lab's
  other names); any one of them in a query searches for the others as well. A term may sit in
  several groups ("kidney function" is eGFR and creatinine clearance) and gets them all.

As a search engine's synonym filter does, this runs on the query only, and only on its lexical
side: dense search embeds the query as written. Words are compared case-folded and stemmed, so
"NSAIDs" matches "NSAID"; at each word the longest entry wins and its words are not matched
again, so "vitamin K" is matched before "K". What an entry adds joins the query's own terms as
an alternative to the words it matched, weighing no more than they do
(:meth:`Synonyms.lexical_query`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.common.config import ConfigError
from services.common.logging import get_logger
from services.retriever.config import DEFAULT_SYNONYMS, RetrieverSettings
from services.retriever.lexical import Analyzer, normalise, sparse_vector, words
from services.retriever.store.base import SparseVector

log = get_logger(__name__)


class SynonymFile(BaseModel):
    """The file's contents, as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    brands: dict[str, str] = Field(default_factory=dict)
    equivalents: list[list[str]] = Field(default_factory=list)

    @field_validator("equivalents")
    @classmethod
    def _groups_have_two_terms(cls, groups: list[list[str]]) -> list[list[str]]:
        for group in groups:
            if len({term.casefold() for term in group}) < 2:
                raise ValueError(f"an equivalence group needs two different terms, got {group}")
        return groups


@dataclass(frozen=True, slots=True)
class Expansion:
    """Words of a query that matched an entry, as written, and the terms searched for as well."""

    matched: str
    added: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LexicalQuery:
    """The lexical side of one search: its sparse vector and the synonyms that went into it."""

    vector: SparseVector
    expansions: tuple[Expansion, ...]


class Synonyms:
    """Expands queries with the entries of one synonym file (or none)."""

    def __init__(self, analyzer: Analyzer, entries: Mapping[str, Sequence[str]]) -> None:
        self._analyzer = analyzer
        self._rules: dict[tuple[str, ...], tuple[str, ...]] = {}
        for term, added in entries.items():
            key = self._key(term)
            if not key:
                raise ValueError(f"synonym entry {term!r} has no words")
            known = self._rules.get(key, ())
            self._rules[key] = tuple(dict.fromkeys([*known, *added]))
        self._longest = max((len(key) for key in self._rules), default=0)

    @classmethod
    def load(cls, path: Path, analyzer: Analyzer) -> Synonyms:
        """The synonyms of a YAML file; raises ValueError saying what is wrong with it."""
        try:
            parsed = SynonymFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise ValueError(f"cannot read synonym file {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"synonym file {path} is not valid YAML: {exc}") from None
        except ValidationError as exc:
            raise ValueError(f"synonym file {path} is not as expected: {exc}") from None
        entries = {brand: [generic] for brand, generic in parsed.brands.items()}
        for group in parsed.equivalents:
            for term in group:
                others = [other for other in group if other.casefold() != term.casefold()]
                entries.setdefault(term, []).extend(others)
        return cls(analyzer, entries)

    @classmethod
    def from_settings(cls, settings: RetrieverSettings, analyzer: Analyzer) -> Synonyms:
        """The file ``RETRIEVER_SYNONYMS`` names (none when empty; the default file only when it
        exists). Raises ConfigError naming the variable when the file is missing or bad."""
        if settings.synonyms is None:
            return cls(analyzer, {})
        path = Path(settings.synonyms)
        default = "synonyms" not in settings.model_fields_set and path == DEFAULT_SYNONYMS
        if default and not path.is_file():
            log.warning("synonyms_not_found", path=str(path.resolve()))
            return cls(analyzer, {})
        try:
            return cls.load(path, analyzer)
        except ValueError as exc:
            raise ConfigError(f"RETRIEVER_SYNONYMS: {exc}") from None

    def _key(self, text: str) -> tuple[str, ...]:
        return tuple(self._analyzer.stems([word.folded for word in words(text)]))

    def __len__(self) -> int:
        return len(self._rules)

    def expand(self, text: str) -> list[Expansion]:
        """The entries the text matches, in text order, longest first at each word."""
        normal = normalise(text)
        found = words(normal)
        stems = self._analyzer.stems([word.folded for word in found])
        expansions: list[Expansion] = []
        position = 0
        while position < len(found):
            for size in range(min(self._longest, len(found) - position), 0, -1):
                added = self._rules.get(tuple(stems[position : position + size]))
                if added is not None:
                    first, last = found[position], found[position + size - 1]
                    expansions.append(Expansion(normal[first.start : last.end], added))
                    position += size
                    break
            else:
                position += 1
        return expansions

    def lexical_query(self, text: str) -> LexicalQuery:
        """The text's terms and those of its synonyms, as one sparse vector.

        A synonym is an alternative to the words it matched, never more than they are: each
        term of the query weighs its count, and each term of an alternative the matched words'
        number of terms divided by the alternative's ("CKD" adds "chronic kidney disease" at a
        third per term), the highest where alternatives share a term. A term the query has
        already keeps its own weight.
        """
        expansions = self.expand(text)
        own = Counter(self._analyzer.text_terms(text))
        weights = {term: float(count) for term, count in own.items()}
        for expansion in expansions:
            stands_for = len(self._analyzer.text_terms(expansion.matched)) or 1
            for alternative in expansion.added:
                terms = self._analyzer.text_terms(alternative)
                for term in terms:
                    if term not in own:
                        weight = stands_for / len(terms)
                        weights[term] = max(weights.get(term, 0.0), weight)
        return LexicalQuery(sparse_vector(weights.items()), tuple(expansions))
