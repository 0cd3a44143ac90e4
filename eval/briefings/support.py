"""How far the grounding check's similarity threshold separates right citations from wrong ones.

Right pairs are what the orchestrator scored: each recommendation's best cosine similarity to
the passages it cites (``support_similarity`` in the briefing). Wrong pairs are made on purpose:
each recommendation that names a drug, against passages cited in other patients' briefings that
name drugs but none of its own (nor a class of them). Those are embedded here with the same
local model as the Embedder (the passage as the briefing's excerpt, its first 1,200 characters;
the model reads 256 tokens, about as much). The distributions and the share of each side of the
threshold go to the JSON and the README ("Grounding checks").
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from briefing.v1 import orchestrator_pb2

from eval.briefings.report import distribution
from services.embedder.backends.base import EmbedItem, InputKind
from services.orchestrator.agent.drugs import mentions
from services.orchestrator.config import OrchestratorSettings

WRONG_PASSAGES_PER_RECOMMENDATION = 3
THRESHOLD: float = OrchestratorSettings.model_fields["grounding_min_similarity"].default


def _drugs(text: str) -> frozenset[str]:
    """The drug names, class keys and classes a text names."""
    found = mentions(text)
    return frozenset(m.key for m in found) | frozenset(c for m in found for c in m.classes)


def wrong_pairs(
    briefings: dict[str, orchestrator_pb2.PatientBriefing],
) -> list[tuple[str, str]]:
    """(recommendation, passage about other drugs) pairs, a few per recommendation naming a drug,
    in a fixed order."""
    passages = {
        (pid, s.source_id): (s.excerpt, _drugs(s.excerpt))
        for pid, briefing in sorted(briefings.items())
        for s in briefing.sources
    }
    pairs = []
    for pid, briefing in sorted(briefings.items()):
        for rec in briefing.recommendations:
            own = _drugs(rec.text)
            if not own:
                continue
            others = [
                text
                for (other, _), (text, named) in passages.items()
                if other != pid and named and not named & own
            ]
            pairs += [(rec.text, text) for text in others[:WRONG_PASSAGES_PER_RECOMMENDATION]]
    return pairs


async def _similarities(pairs: Sequence[tuple[str, str]]) -> list[float]:
    # Imported here: torch takes seconds to import, and scoring alone never needs it.
    from services.embedder.backends.local import LocalBackend  # noqa: PLC0415

    backend = await LocalBackend.load(threads=2)
    try:
        texts = list(dict.fromkeys(t for pair in pairs for t in pair))
        counts = await backend.count_tokens(texts)
        items = [
            EmbedItem(t, InputKind.DOCUMENT, True, n) for t, n in zip(texts, counts, strict=True)
        ]
        vectors = {}
        for start in range(0, len(items), 32):
            batch = items[start : start + 32]
            for item, done in zip(batch, await backend.embed(batch), strict=True):
                vectors[item.text] = done.values
        return [float(vectors[a] @ vectors[b]) for a, b in pairs]
    finally:
        await backend.close()


def measure(briefings: dict[str, orchestrator_pb2.PatientBriefing]) -> dict[str, Any]:
    """The cited and the wrong pairs' similarity distributions against the threshold."""
    cited = [
        r.support_similarity
        for b in briefings.values()
        for r in b.recommendations
        if r.HasField("support_similarity")
    ]
    wrong = asyncio.run(_similarities(wrong_pairs(briefings)))
    return {
        "threshold": THRESHOLD,
        "cited": distribution(cited, THRESHOLD),
        "wrong_pairs": distribution(wrong, THRESHOLD),
    }
