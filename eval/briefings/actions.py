"""What a sentence says to do, read by patterns: reduce, stop, start, switch, continue, increase,
monitor, avoid, refer, deintensify.

An action word is negated when one of the four words before it is a negation ("do not stop",
"not a reason to stop", "no dose reduction is needed"); a negated action is not stated.
Patterns that carry their own negation ("not recommended") are never negated.

Starting a drug is read more strictly, as the drug's own verb: "start an SGLT2 inhibitor",
"switch to a DOAC", "an ARB may be used", "treat ... with an SGLT2i". A few filler words may
stand between verb and drug ("add a low-dose statin"), but not another verb: "consider halving
the MRA dose" is about the MRA's dose, not a reason to start one.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Action(StrEnum):
    REDUCE = "reduce"
    STOP = "stop"
    START = "start"
    SWITCH = "switch"
    CONTINUE = "continue"
    INCREASE = "increase"
    MONITOR = "monitor"
    AVOID = "avoid"
    REFER = "refer"
    DEINTENSIFY = "deintensify"


_OUTCOMES = (
    r"(?:risk|rates?|incidence|events?|hospitali[sz]ation|mortality|death|progression|decline|"
    r"albuminuria|proteinuria|ldl|cholesterol|blood pressure|bp|hba1c|a1c|glucose|weight|"
    r"bleeding|stroke|mace|major|cardiovascular|kidney|the need)"
)
_NEGATION = re.compile(r"\b(?:not|no|never|without|nor|cannot)\b|n't\b", re.IGNORECASE)

# Patterns whose match is an action unless negated.
_POSITIVE: dict[Action, tuple[str, ...]] = {
    Action.REDUCE: (
        rf"\b(?:reduc|decreas)\w*\b(?!\s+(?:the\s+|a\s+|its\s+)?{_OUTCOMES})",
        r"\bhalv(?:e|ed|es|ing)\b",
        r"\blower(?:ed|ing)?\s+(?:the\s+|a\s+|its\s+)?(?:dose|dosage|daily dose)",
        r"\blower-dose\b",
        r"\blimit(?:ed|ing|s)?\b",
        r"\bmax(?:imum)?\b\s+(?:total\s+)?(?:daily\s+)?(?:dose\s+)?(?:of\s+|is\s+)?(?:about\s+|approximately\s+)?\d",
        r"\bno more than\b",
        r"\bexceed\b",
        r"\bat most\b",
        r"\bdose[\s-]adjust\w*",
        r"\badjust\w*\s+(?:the\s+)?(?:dose|dosage)",
        r"\brenal(?:ly)?\s+(?:adjusted\s+)?dos\w*",
        r"\bdown-?titrat\w*",
        r"\btaper\w*",
    ),
    Action.STOP: (
        r"\bstop(?:s|ped|ping)?\b",
        r"\bdiscontinu\w*",
        r"\b(?:hold|holding|holds|held)\b",
        r"\bwithh(?:o|e)ld\w*",
        r"\bwithdraw\w*",
        r"\bceas(?:e|ed|ing)\b",
        r"\bdeprescrib\w*",
        r"\bcontraindicat\w*",
    ),
    Action.START: (
        r"\b(?:start|add|initiat|begin|introduc|prescrib|rechalleng|re-challeng|receiv|restart)\w*",
        r"\b(?:give|given|choose)\b",
        r"\bconsider\w*\b",
        r"\brecommend\w*\b",
        r"\btreat\w*\b[^.;]*\bwith\b",
        r"\b(?:use|using)\b",
        r"\b(?:an?|the)\s+option\b",
    ),
    Action.SWITCH: (
        r"\bswitch\w*",
        r"\bchang\w*\s+to\b",
        r"\breplac\w*",
        r"\bconvert\w*",
        r"\btransition\w*",
        r"\bsubstitut\w*",
        r"\binstead\b",
        r"\balternative\w*",
        r"\bprefer\w*",
    ),
    Action.CONTINUE: (
        r"\bcontinu(?:e|ed|es|ing)\b",
        r"\bkeep\b",  # imperative: "keep the DOAC" (not "keeps the patient euvolemic")
        r"\bmaintain\w*",
        r"\bremain\w*\s+on\b",
        r"\b(?:is|are)\s+(?:the\s+)?(?:appropriate|correct|right)\b",
        r"\bcorrect dose\b",
    ),
    Action.INCREASE: (
        rf"\bincreas\w*\b(?!\s+(?:the\s+|a\s+)?{_OUTCOMES})",
        r"\b(?:up-?)?titrat\w*",
        r"\bmaximi[sz]\w*",
        r"\b(?:highest|maximum|maximally)\s+tolerated\b",
        r"\bintensif\w*",
    ),
    Action.MONITOR: (
        r"\bmonitor\w*",
        r"\b(?:re)?check\w*",
        r"\bmeasur\w*",
        r"\brepeat\w*",
        r"\bfollow[\s-]?up\b",
        r"\bsurveil\w*",
        r"\bwatch\w*",
        r"\bre-?assess\w*",
        r"\bre-?evaluat\w*",
        r"\breview\w*",
        r"\bevery\s+\d",
        r"\bwithin\s+\d",
        r"\btrack\w*",
    ),
    Action.AVOID: (r"\bavoid\w*", r"\bcontraindicat\w*", r"\binappropriate\b", r"\bnever\b"),
    Action.REFER: (r"\brefer\w*", r"\bconsult\w*", r"\bnephrolog\w*"),
    Action.DEINTENSIFY: (
        r"\bde-?intensif\w*",
        r"\brelax\w*",
        r"\bless\s+(?:stringent|strict|intensive)\b",
        r"\bhigher\s+(?:hba1c\s+|a1c\s+|glycemic\s+)?target\b",
        r"\bsimplif\w*",
    ),
}

# Patterns that are an action as they stand, negation included.
_AS_IS: dict[Action, tuple[str, ...]] = {
    Action.STOP: (
        r"\bnot\s+(?:be\s+)?recommended\b",
        r"\bshould\s+not\s+be\s+(?:used|given|continued)\b",
        r"\bdo\s+not\s+use\b",
    ),
    Action.AVOID: (
        r"\bnot\s+(?:be\s+)?recommended\b",
        r"\bnot\s+advised\b",
        r"\bshould\s+not\s+be\s+(?:used|started|given|prescribed|combined)\b",
        r"\bdo\s+not\s+(?:use|start|give|prescribe|combine)\b",
    ),
    Action.CONTINUE: (
        r"\bnot\s+(?:a|an)\s+(?:reason|indication)\s+to\s+(?:stop|discontinue)\b",
        r"\b(?:do|does|should|need)\s+not\s+(?:need\s+to\s+)?(?:be\s+)?(?:stop|discontinu)\w*",
        r"\bno\s+(?:dose\s+)?(?:reduction|adjustment|change)\s+(?:is\s+)?(?:needed|required|necessary)\b",
        r"\bwithout\s+(?:a\s+)?(?:dose\s+)?(?:reduction|adjustment)\b",
        r"\bnot\s+avoid\w*",
    ),
    Action.START: (r"\bmay\s+be\s+(?:used|considered|tried|started|added)\b",),
}
_COMPILED_POSITIVE = {
    action: tuple(re.compile(p, re.IGNORECASE) for p in patterns)
    for action, patterns in _POSITIVE.items()
}
_COMPILED_AS_IS = {
    action: tuple(re.compile(p, re.IGNORECASE) for p in patterns)
    for action, patterns in _AS_IS.items()
}


def _negated(sentence: str, start: int) -> bool:
    before = sentence[:start].split()[-4:]
    return bool(_NEGATION.search(" ".join(before)))


def states(sentence: str, action: Action) -> bool:
    """Whether the sentence states the action (anywhere in it, not negated)."""
    if any(p.search(sentence) for p in _COMPILED_AS_IS.get(action, ())):
        return True
    return any(
        not _negated(sentence, match.start())
        for pattern in _COMPILED_POSITIVE[action]
        for match in pattern.finditer(sentence)
    )


# Words that may stand between a verb and the drug it is about: articles, dose and intensity
# words, "another"/"alternative". Never a verb.
_FILLER = (
    r"(?:a|an|the|one|another|other|alternative|different|low|lower|low-dose|moderate|high|"
    r"moderate-intensity|high-intensity|intensity|oral|second|single|nonstatin|non-statin|"
    r"reduced|dose|of|to|with|therapy|treatment|either|both)"
)
_START_VERBS = (
    r"(?:start|add|initiat|begin|introduc|prescrib|rechalleng|re-challeng|consider|receiv|give|"
    r"recommend|prefer|use|using|try|trial|switch\w*\s+to|chang\w*\s+to|replac\w*\s+\w+\s+with)"
)
_PASSIVE_START = (
    r"(?:recommended|preferred|indicated|suggested|started|added|initiated|considered|used|"
    r"chosen|an option|reasonable|beneficial|appropriate|first-line)"
)
_SWITCH_VERBS = r"(?:switch\w*\s+to|chang\w*\s+to|transition\w*\s+to|replac\w*\s+\w+\s+with)"
_AVOID_VERBS = r"(?:avoid|do\s+not\s+(?:use|start|give|prescribe)|never\s+(?:use|start|give))"
_PASSIVE_AVOID = (
    r"(?:not\s+recommended|contraindicated|to\s+be\s+avoided|should\s+be\s+avoided|"
    r"inappropriate|should\s+not\s+be\s+(?:used|started|given|prescribed)|"
    r"must\s+not\s+be\s+(?:used|started|given)|avoided)"
)
# Up to five words between a drug and its passive verb ("an SGLT2 inhibitor with proven kidney
# benefit is recommended"): no negation, no comma (a new clause: "..., and it must not be").
_BETWEEN = r"(?:\s+(?!(?:not|never|no)\b)[\w/-]+){0,5}?"
_PARENTHESES = re.compile(r"\([^()]*\)")


def _anchored(
    sentence: str, drug: re.Pattern[str], verbs: str, passive: str, *, clause: bool
) -> bool:
    """Whether a verb of ``verbs`` is about the drug: "<verb> [fillers] <drug>", "<drug> ... is
    <passive>", "treat ... with <drug>"; with ``clause``, also "<verb> ... <drug>" anywhere in
    the verb's clause ("avoid where possible: antiepileptics, ..., opioids")."""
    body = drug.pattern
    plain = _PARENTHESES.sub(" ", sentence)  # "an SGLT2i (for example ...) is recommended"
    forms = [
        rf"\b{verbs}\w*(?:\s+{_FILLER}){{0,4}}\s+(?:{body})",
        rf"(?:{body}){_BETWEEN}\s+(?:is|are|be|was|were|remains?)\s+(?:\w+\s+)?{passive}",
        rf"\btreat\w*\b[^.;]{{0,120}}?\bwith\s+(?:{_FILLER}\s+){{0,3}}(?:{body})",
    ]
    if clause:
        forms.append(rf"\b{verbs}\w*\b[^.;]*?(?:{body})")
    if _negated_start(sentence, verbs):
        return False
    return any(re.search(form, text, re.IGNORECASE) for form in forms for text in (sentence, plain))


def _negated_start(sentence: str, verbs: str) -> bool:
    return bool(re.search(rf"\b(?:do\s+not|don't|never|not)\s+{verbs}", sentence, re.IGNORECASE))


def starts(sentence: str, drug: re.Pattern[str]) -> bool:
    """Whether the sentence says to start (or switch to) the drug the pattern names; a switch
    reaches the end of its clause ("changed to agents with low hypoglycemia risk (metformin,
    SGLT2 inhibitors)")."""
    return _anchored(sentence, drug, _START_VERBS, _PASSIVE_START, clause=False) or _anchored(
        sentence, drug, _SWITCH_VERBS, _PASSIVE_START, clause=True
    )


def advises_against(sentence: str, drug: re.Pattern[str]) -> bool:
    """Whether the sentence says not to use the drug the pattern names (an "avoid" reaches the
    end of its clause: "avoid where possible: antiepileptics, ..., and opioids")."""
    return _anchored(sentence, drug, _AVOID_VERBS, _PASSIVE_AVOID, clause=True)
