"""Topics a recruiter must handle personally, recognised by explicit patterns.

The NLU model has a `sensitive_topic` intent, but a statistical classifier can misread "can you
match my competing offer" as a salary question. This guard runs before any answer about status,
roles or the knowledge base, so a sensitive message reaches a person whatever intent it got.
Patterns are deliberately specific: general policy ("do you sponsor visas?") is still answered.
"""

from __future__ import annotations

import re

_PATTERNS: dict[str, tuple[str, ...]] = {
    "offer_negotiation": (
        r"\bnegotiat", r"\bcounter[- ]?offer", r"\bcompeting offer", r"\bother offer",
        r"\bmatch (my|the|their|an?)\b.*\boffer",
        r"\b(my|the) offer\b.*\b(low|higher|more|better|improve|bump|raise)",
        r"\b(higher|better|more) (base|salary|pay|equity)\b.*\boffer",
        r"\b(raise|bump|increase|up) (the|my) (base|salary|offer|equity|sign[- ]?on)",
        r"\b(my|this|that) offer\b(?! letter)", r"\bthe offer\b(?! stage| letter)", r"\bcan you match\b",
        r"\bcounter\b",
        r"\bflexib\w* (on|in|with) (the |my )?(salary|pay|base|comp|equity|offer)", r"\bto accept\b",
        r"\boffered me\b", r"\boffered\b.*\b(more|higher)\b",
    ),
    "accommodation": (
        r"\baccommodat", r"\bdisab", r"\bwheelchair", r"\b(sign language|asl) interpreter", r"\binterpreter\b",
        r"\b(deaf|blind|hard of hearing|dyslexi\w*|adhd|autis\w*|neurodivergent)\b", r"\bextra time\b",
        r"\bscreen reader", r"\bmedical condition", r"\bchronic (illness|pain)",
        r"\b(anxiety|depression|ptsd|cancer|chemo\w*|seizures?|epilep\w*|diabet\w*|pregnan\w*)\b",
    ),
    "complaint": (
        r"\bcomplain", r"\bharass", r"\bdiscriminat", r"\bracis[tm]", r"\bsexis[tm]", r"\bageis[tm]",
        r"\b(rude|inappropriate|unprofessional|offensive|hostile)\b", r"\bbecause of my (age|race|gender|religion|"
        r"disability|pregnancy|accent|ethnicity|sexuality|orientation)", r"\basked (me )?(if|whether) i('?m| am| was)? "
        r"(pregnant|married|religious|gay|disabled)", r"\b(lawyer|attorney|lawsuit|sue)\b", r"\bunfair(ly)?\b",
        r"\basked (me )?(about|how|if|whether)\b.*\b(religion|old|age|kids|children|pregnan\w*|married|race|"
        r"ethnicity|sexuality|church)\b", r"\bbecause i'?m\b", r"\b(lied|sexual|creepy|uncomfortable|touch(ed|ing))\b",
        r"\btreated (me )?(terribly|badly|poorly|unfairly)", r"\b(is that|was that) (even )?legal\b",
        r"\bnon[- ]?compete\b", r"\bbarely listened\b|\bon (their|his|her) phone the whole",
    ),
    "own_immigration_case": (
        r"\bmy (h-?1b|h-?4|opt|stem opt|cpt|tn|l-?1|o-?1|ead|visa|work permit|green card|i-?20|i-?140|perm)\b",
        r"\btransfer (my |the )?(h-?1b|visa)", r"\b(sponsor|file) (my|a) green card", r"\bgreen card\b",
        r"\b(opt|ead|visa|h-?1b|work permit) (ends|expires|expiring|runs out)", r"\bgrace period\b",
        r"\b(h-?1b|h-?4|tn|opt|l-?1|o-?1|f-?1|j-?1) (visa|ead)\b", r"\bi'?m on (a|an|my)\b.*\b(visa|ead|opt)\b",
    ),
    "record_check": (
        r"\b(felony|misdemeanou?r|criminal record|conviction|expunged|dui|arrest(ed)?)\b",
        r"\bdrug (test|screen)", r"\bbackground check came back", r"\bmy credit\b",
    ),
}
_COMPILED = {category: tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns)
             for category, patterns in _PATTERNS.items()}


def sensitive_category(text: str | None) -> str | None:
    """Which sensitive category a message falls in, or None."""
    if not text:
        return None
    for category, patterns in _COMPILED.items():
        if any(pattern.search(text) for pattern in patterns):
            return category
    return None
