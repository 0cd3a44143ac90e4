"""The terminal briefing (client.render_briefing) on briefings built by hand: timings one line
per stage unless asked, URLs whole, the guidelines' absence said once at the top, identical
warnings merged, searches listed."""

from __future__ import annotations

from briefing.v1 import common_pb2, retriever_pb2
from briefing.v1 import orchestrator_pb2 as pb

from services.orchestrator.briefing import GUIDELINES_UNAVAILABLE
from services.orchestrator.client import WIDTH, render_briefing

LONG_URL = "https://guidelines.example.org/" + "kidney-disease/" * 8 + "hyperkalemia-raasi.pdf"
REASON = "search failed (UNAVAILABLE): the guideline search service is unavailable"


def _timings() -> list[pb.StageTiming]:
    calls = [
        pb.StageTiming(stage="tool_call", turn=1, tool_call_id=f"c{n}", duration_ms=10.0 * n)
        for n in (1, 2, 3)
    ]
    return [
        pb.StageTiming(stage="patient_fetch", duration_ms=4.0),
        pb.StageTiming(stage="agent_turn", turn=1, duration_ms=90.0),
        *calls,
        pb.StageTiming(stage="total", duration_ms=100.0),
    ]


def _briefing() -> pb.PatientBriefing:
    return pb.PatientBriefing(
        patient_id="pt-1",
        mode=pb.AGENT_MODE_OFFLINE,
        guidelines_available=True,
        sources=[
            pb.CitedSource(
                source_id="S1",
                source=common_pb2.Source(title="Hyperkalaemia", issuer="KDIGO", url=LONG_URL),
            )
        ],
        recommendations=[pb.Recommendation(text="Recheck potassium.", source_ids=["S1"])],
        searches=[
            pb.GuidelineSearch(
                turn=1,
                tool_call_id="c1",
                query="hyperkalemia on ACE inhibitor",
                mode=retriever_pb2.SEARCH_MODE_HYBRID,
                hit_count=4,
                ok=True,
            )
        ],
        timings=_timings(),
    )


def test_timings_are_one_line_per_stage_unless_asked_for_all() -> None:
    briefing = _briefing()
    collapsed = render_briefing(briefing).split("\nTimings\n", 1)[1].splitlines()
    assert [row.split()[0] for row in collapsed] == [
        "patient_fetch",
        "agent_turn",
        "tool_call",
        "total",
    ]
    assert "60.0 ms in 3, longest 30.0 ms" in collapsed[2]
    full = render_briefing(briefing, full_timings=True).split("\nTimings\n", 1)[1].splitlines()
    assert sum(row.split()[0] == "tool_call" for row in full) == 3


def test_a_url_longer_than_a_line_is_never_broken() -> None:
    text = render_briefing(_briefing())
    assert len(LONG_URL) > WIDTH
    assert any(line.strip() == LONG_URL for line in text.splitlines())


def test_searches_are_listed_with_their_mode_and_hits() -> None:
    text = render_briefing(_briefing())
    assert '  - "hyperkalemia on ACE inhibitor" (hybrid, 4 hit(s))' in text


def test_missing_guidelines_are_said_once_at_the_top_and_failures_merged() -> None:
    briefing = _briefing()
    briefing.guidelines_available = False
    del briefing.sources[:]
    for search in briefing.searches:
        search.ok, search.hit_count = False, 0
    briefing.warnings[:] = [
        *(f"Guideline search c{n} failed: {REASON}" for n in (1, 2, 3)),
        GUIDELINES_UNAVAILABLE,
        "Citation S9 was not returned by any search.",
        "Citation S9 was not returned by any search.",
    ]
    text = render_briefing(briefing)
    flat = " ".join(text.split())  # wrapping aside
    assert flat.count(GUIDELINES_UNAVAILABLE) == 1
    assert flat.index(GUIDELINES_UNAVAILABLE) < flat.index("Summary")
    assert flat.count(REASON) == 1
    assert f"3 guideline searches failed (c1, c2, c3): {REASON}" in flat
    assert "Citation S9 was not returned by any search. (2 times)" in flat


def test_grounding_flags_are_shown_under_their_recommendation() -> None:
    briefing = _briefing()
    briefing.recommendations.extend(
        [
            pb.Recommendation(
                text="Reduce metformin to 750 mg per day.",
                grounding_flags=[
                    pb.GroundingFlag(
                        kind=pb.GROUNDING_FLAG_KIND_UNSUPPORTED_NUMBER, unmatched=["750 mg"]
                    )
                ],
                support_similarity=0.62,
            ),
            pb.Recommendation(
                text="Start empagliflozin.",
                grounding_flags=[
                    pb.GroundingFlag(
                        kind=pb.GROUNDING_FLAG_KIND_UNSUPPORTED_DRUG, unmatched=["empagliflozin"]
                    ),
                    pb.GroundingFlag(kind=pb.GROUNDING_FLAG_KIND_WEAK_SUPPORT, similarity=0.08),
                ],
            ),
            pb.Recommendation(
                text="Review the plan.",
                grounding_flags=[pb.GroundingFlag(kind=pb.GROUNDING_FLAG_KIND_WEAK_SUPPORT)],
            ),
        ]
    )
    lines = render_briefing(briefing).splitlines()
    at = lines.index(next(line for line in lines if "750 mg per day" in line))
    assert lines[at + 1] == "     !! Numbers in no cited passage nor the record: 750 mg"
    assert "     !! Drugs in no cited passage nor the record: empagliflozin" in lines
    assert "     !! Weakly supported: far from its cited passages (similarity 0.08)" in lines
    assert "     !! Weakly supported: it cites no passage" in lines
