"""Query synonyms: the shipped file fits the corpus, entries match as a synonym filter does, and
a bad file is refused with a message that names the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.common.config import ConfigError, load_settings
from services.retriever.config import RetrieverSettings
from services.retriever.ingest.parsers import PARSERS, parse_file
from services.retriever.lexical import Analyzer, term_index
from services.retriever.synonyms import Synonyms
from tests.retriever.conftest import GUIDELINES

SHIPPED = GUIDELINES / "synonyms.yaml"
ANALYZER = Analyzer()


@pytest.fixture(scope="module")
def shipped() -> Synonyms:
    return Synonyms.load(SHIPPED, ANALYZER)


@pytest.fixture(scope="module")
def corpus_terms() -> set[str]:
    """Every term of data/guidelines, headings included."""
    terms: set[str] = set()
    for path in GUIDELINES.iterdir():
        if path.suffix in PARSERS:
            for section in parse_file(path).sections:
                terms.update(ANALYZER.text_terms(" ".join([*section.path, *section.blocks])))
    return terms


def added(synonyms: Synonyms, text: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(expansion.matched, expansion.added) for expansion in synonyms.expand(text)]


def test_every_brand_is_absent_from_the_corpus_and_its_generic_present(
    corpus_terms: set[str],
) -> None:
    brands: dict[str, str] = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))["brands"]
    assert len(brands) > 150
    for brand, generic in brands.items():
        # The brand's own name (not a suffix such as "XL") is one the corpus never uses.
        assert ANALYZER.text_terms(brand)[0] not in corpus_terms, brand
        assert set(ANALYZER.text_terms(generic)) & corpus_terms, (brand, generic)


def test_the_issue_s_examples_expand(shipped: Synonyms) -> None:
    assert added(shipped, "Is Eliquis or Entresto safe?") == [
        ("Eliquis", ("apixaban",)),
        ("Entresto", ("sacubitril/valsartan",)),
    ]
    assert added(shipped, "rate control in AF") == [
        ("AF", ("atrial fibrillation", "afib", "a-fib")),
    ]
    assert ("HFrEF", ("heart failure with reduced ejection fraction",)) in added(
        shipped, "HFrEF on Lokelma"
    )
    [(matched, egfr)] = added(shipped, "what eGFR")
    assert "kidney function" in egfr
    [(matched, kidney)] = added(shipped, "poor kidney function")
    assert matched == "kidney function"
    assert {"eGFR", "creatinine clearance", "CrCl"} <= set(kidney)
    assert added(shipped, "K of 6.1") == [("K", ("potassium",))]
    assert added(shipped, "low potassium")[0][0] == "low potassium"


def test_matching_is_case_folded_stemmed_and_longest_first() -> None:
    synonyms = Synonyms(
        ANALYZER,
        {"K": ["potassium"], "vitamin K": ["phytonadione"], "NSAID": ["ibuprofen"]},
    )
    assert added(synonyms, "vitamin k before K") == [
        ("vitamin k", ("phytonadione",)),
        ("K", ("potassium",)),
    ]
    assert added(synonyms, "avoid nsaids") == [("nsaids", ("ibuprofen",))]
    assert added(synonyms, "potassium") == []  # entries go one way unless the file pairs them
    assert len(synonyms) == 3


def test_brands_go_one_way_and_equivalents_both(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.yaml"
    path.write_text(
        "brands:\n  Eliquis: apixaban\nequivalents:\n  - [potassium, K]\n", encoding="utf-8"
    )
    synonyms = Synonyms.load(path, ANALYZER)
    assert added(synonyms, "apixaban") == []
    assert added(synonyms, "Eliquis") == [("Eliquis", ("apixaban",))]
    assert added(synonyms, "potassium") == [("potassium", ("K",))]
    assert added(synonyms, "K") == [("K", ("potassium",))]


def test_an_alternative_weighs_no_more_than_the_words_it_matched(shipped: Synonyms) -> None:
    def weights(text: str) -> dict[int, float]:
        vector = shipped.lexical_query(text).vector
        return dict(zip(vector.indices, vector.values, strict=True))

    both = weights("Eliquis and apixaban dose")
    assert both[term_index("apixaban")] == 1.0  # in the query, and added: its own weight
    assert both[term_index("eliqui")] == both[term_index("dose")] == 1.0
    assert term_index("and") not in both  # a stop word
    lokelma = weights("Lokelma")
    for term in ("sodium", "zirconium", "cyclosil"):
        assert lokelma[term_index(term)] == pytest.approx(1 / 3)
    egfr = weights("low eGFR")
    assert egfr[term_index("gfr")] == 1.0  # "GFR" alone, beside "estimated GFR" at 1/2
    assert egfr[term_index("glomerular")] == pytest.approx(1 / 3)
    assert egfr[term_index("low")] == egfr[term_index("egfr")] == 1.0
    plain = shipped.lexical_query("apixaban dose")
    assert plain.expansions == ()
    assert weights("apixaban dose") == {term_index("apixaban"): 1.0, term_index("dose"): 1.0}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("brands: [not, a, mapping]", "not as expected"),
        ("equivalents:\n  - [AF]\n", "two different terms"),
        ("surprise: {}\n", "not as expected"),
        ("brands: {Eliquis: apixaban", "not valid YAML"),
    ],
)
def test_a_bad_file_is_a_config_error_naming_the_setting(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "synonyms.yaml"
    path.write_text(content, encoding="utf-8")
    settings = load_settings(RetrieverSettings, synonyms=str(path))
    with pytest.raises(ConfigError, match=message) as raised:
        Synonyms.from_settings(settings, ANALYZER)
    assert "RETRIEVER_SYNONYMS" in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_named_file_must_exist_the_default_may_be_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = load_settings(RetrieverSettings, synonyms=str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match="cannot read synonym file"):
        Synonyms.from_settings(missing, ANALYZER)
    monkeypatch.chdir(tmp_path)  # the default path is relative: not found here
    assert len(Synonyms.from_settings(load_settings(RetrieverSettings), ANALYZER)) == 0
    assert len(Synonyms.from_settings(load_settings(RetrieverSettings, synonyms=""), ANALYZER)) == 0
