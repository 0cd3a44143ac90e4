"""One trace as a tree of spans drawn in the terminal, each with its duration and a bar on the
trace's time axis, so that calls made together show as bars that overlap.

    orchestrator /briefing.v1.Orchestrator/Brief        5134.0 ms │████████████████████│
    orchestrator ├─ patient.fetch                          9.7 ms │█                   │
    orchestrator ├─ agent.run                           5097.6 ms │████████████████████│
    orchestrator │  └─ agent.turn                       5067.9 ms │████████████████████│
    orchestrator │     ├─ tool_call search_clinical_guidelines  929.6 ms │████                │
    retriever    │     │     └─ /briefing.v1.Retriever/Search  890.3 ms │████                │

Siblings that share a name and overlap (the searches an agent turn gathers) are summed up below
the tree: how many, how many ran at once at most, and how long they took together against one
by one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.tracing.receiver import ReceivedSpan

BAR_WIDTH = 40
NAME_WIDTH = 58
SERVICE_WIDTH = 13


@dataclass
class SpanNode:
    """A span and the spans whose parent it is, in the order they started."""

    span: ReceivedSpan
    children: list[SpanNode] = field(default_factory=list)


def build_tree(spans: Iterable[ReceivedSpan]) -> list[SpanNode]:
    """The roots of ``spans`` (those whose parent is not among them), children by start time."""
    nodes = {span.span_id: SpanNode(span) for span in spans}
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.span.parent_span_id)
        (parent.children if parent is not None else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda child: (child.span.start_ns, child.span.name))
    roots.sort(key=lambda root: root.span.start_ns)
    return roots


def most_at_once(spans: Sequence[ReceivedSpan]) -> int:
    """The largest number of ``spans`` running at the same instant."""
    # An end sorts before a start at the same instant: touching spans do not overlap.
    edges = sorted([(s.start_ns, 1) for s in spans] + [(s.end_ns, -1) for s in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@dataclass(frozen=True)
class GatheredCalls:
    """Sibling spans of one name under one parent (the calls one step made together)."""

    parent: ReceivedSpan
    name: str
    spans: list[ReceivedSpan]

    @property
    def at_once(self) -> int:
        return most_at_once(self.spans)

    @property
    def wall_ms(self) -> float:
        """From the first start to the last end."""
        return (max(s.end_ns for s in self.spans) - min(s.start_ns for s in self.spans)) / 1e6

    @property
    def summed_ms(self) -> float:
        """What they would have taken one after another."""
        return sum(s.duration_ms for s in self.spans)


def gathered_calls(roots: Sequence[SpanNode]) -> list[GatheredCalls]:
    """Every group of two or more same-named siblings, in tree order."""
    found: list[GatheredCalls] = []

    def visit(node: SpanNode) -> None:
        by_name: dict[str, list[ReceivedSpan]] = defaultdict(list)
        for child in node.children:
            by_name[child.span.name].append(child.span)
        found.extend(
            GatheredCalls(node.span, name, spans)
            for name, spans in by_name.items()
            if len(spans) > 1
        )
        for child in node.children:
            visit(child)

    for root in roots:
        visit(root)
    return found


def _bar(span: ReceivedSpan, start_ns: int, total_ns: int, width: int) -> str:
    first = math.floor((span.start_ns - start_ns) / total_ns * width)
    last = math.ceil((span.end_ns - start_ns) / total_ns * width)
    first = min(max(first, 0), width - 1)
    last = min(max(last, first + 1), width)
    return " " * first + "█" * (last - first) + " " * (width - last)


def _label(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def render_tree(roots: Sequence[SpanNode], bar_width: int = BAR_WIDTH) -> list[str]:
    """The tree as lines: service, indented name, duration and a bar on the time axis."""
    spans = [node.span for node in _walk(roots)]
    if not spans:
        return ["(no spans)"]
    start_ns = min(s.start_ns for s in spans)
    total_ns = max(max(s.end_ns for s in spans) - start_ns, 1)
    axis_left = "0 ms"
    axis_right = f"{total_ns / 1e6:.0f} ms"
    header = " " * (SERVICE_WIDTH + NAME_WIDTH + 12)
    lines = [header + " " + axis_left + axis_right.rjust(bar_width + 2 - len(axis_left))]

    def draw(node: SpanNode, prefix: str, branch: str) -> None:
        span = node.span
        name = _label(prefix + branch + span.name, NAME_WIDTH)
        bar = _bar(span, start_ns, total_ns, bar_width)
        lines.append(
            f"{_label(span.service, SERVICE_WIDTH - 1):<{SERVICE_WIDTH}}{name:<{NAME_WIDTH}}"
            f"{span.duration_ms:>9.1f} ms │{bar}│"
        )
        below = prefix + ("" if not branch else "   " if branch == "└─ " else "│  ")
        for index, child in enumerate(node.children):
            draw(child, below, "└─ " if index == len(node.children) - 1 else "├─ ")

    for root in roots:
        draw(root, "", "")
    return lines


def render_gathered(roots: Sequence[SpanNode]) -> list[str]:
    """One line per group of calls that overlapped: how many ran at once, and the time saved."""
    return [
        f"{len(group.spans)} × {group.name} under {group.parent.name}: up to {group.at_once} at "
        f"once, {group.wall_ms:.0f} ms from first start to last end "
        f"({group.summed_ms:.0f} ms one after another)"
        for group in gathered_calls(roots)
        if group.at_once > 1
    ]


def _walk(nodes: Sequence[SpanNode]) -> Iterable[SpanNode]:
    for node in nodes:
        yield node
        yield from _walk(node.children)
