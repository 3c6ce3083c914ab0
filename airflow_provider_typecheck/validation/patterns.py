"""Which Python regular expressions Polars (Rust's regex crate) can run with the same verdicts.

python-jsonschema checks ``pattern`` with ``re.search``. Rust's regex agrees
with it on a common core (literals, classes with explicit ranges, ``\\d``,
``.``, groups, alternation, greedy and lazy repeats, ``^``); outside that core
the two differ (``\\w``/``\\s``/``\\b`` use other Unicode tables, Rust has no
backreferences or lookaround, ``[[`` and ``&&`` mean set operations in Rust).
Patterns outside the core run per distinct value in Python instead.
"""

from __future__ import annotations

import re
from functools import lru_cache
from re import _constants as C  # noqa: N812
from re import _parser as sre_parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import regex

_SAFE_OPCODES = {
    C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN, C.BRANCH, C.SUBPATTERN,
    C.MAX_REPEAT, C.MIN_REPEAT, C.AT,
}
_SAFE_AT = {C.AT_BEGINNING, C.AT_END, C.AT_BEGINNING_STRING}
_SAFE_IN = {C.LITERAL, C.RANGE, C.NEGATE, C.CATEGORY}
_SAFE_CATEGORIES = {C.CATEGORY_DIGIT, C.CATEGORY_NOT_DIGIT}
# Text Rust reads differently from Python even where both compile it.
_RUST_SPECIAL = ("[[", "&&", "--", "~~", "{,", "\\Z", "\\z", "\\A", "\\0")


def _safe(tree: sre_parse.SubPattern) -> bool:
    for op, arg in tree:
        if op not in _SAFE_OPCODES:
            return False
        if op == C.AT and arg not in _SAFE_AT:
            return False
        if op == C.IN:
            for item_op, item_arg in arg:
                if item_op not in _SAFE_IN:
                    return False
                if item_op == C.CATEGORY and item_arg not in _SAFE_CATEGORIES:
                    return False
                if item_op == C.LITERAL and chr(item_arg) in "[]&~-^\\":
                    return False
        elif op == C.SUBPATTERN:
            group, add_flags, del_flags, sub = arg
            if add_flags or del_flags or not _safe(sub):
                return False
        elif op == C.BRANCH:
            if not all(_safe(branch) for branch in arg[1]):
                return False
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            if not _safe(arg[2]):
                return False
    return True


@lru_cache(maxsize=1024)
def runs_in_polars(pattern: str) -> bool:
    """True when Polars' ``str.contains(pattern)`` equals ``re.search(pattern, s)``
    for every string without a newline (Python's ``$`` also matches before a
    final newline: such cells always go to Python)."""
    if any(special in pattern for special in _RUST_SPECIAL):
        return False
    try:
        tree = sre_parse.parse(pattern)
    except re.error:
        return False
    if tree.state.flags & ~(re.UNICODE):
        return False
    return _safe(tree)


# Patterns Polars cannot run go to the ``regex`` package: it reads every pattern
# Python's ``re`` compiles the same way (see ``ambiguous_for_regex``), and unlike
# ``re`` it can stop a match that backtracks for too long. A cell whose match
# runs past the budget fails its ``pattern`` (with a message saying so).
PATTERN_TIMEOUT_SECONDS = 0.1


class PatternTooSlow(Exception):
    """Matching a pattern against one text ran past :data:`PATTERN_TIMEOUT_SECONDS`."""


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> regex.Pattern[str]:
    # Imported on the first pattern Polars cannot run: most runs have none, and every start would pay for it.
    import regex

    return regex.compile(pattern, regex.VERSION0)


def search(pattern: str, text: str, timeout: float = PATTERN_TIMEOUT_SECONDS) -> bool:
    """``re.search(pattern, text) is not None``, in at most ``timeout`` seconds.

    Raises :class:`PatternTooSlow` past the budget.
    """
    try:
        return _compiled(pattern).search(text, timeout=timeout) is not None
    except TimeoutError:
        raise PatternTooSlow(pattern) from None


def too_slow_message(pattern: str, text: str, timeout: float = PATTERN_TIMEOUT_SECONDS) -> str:
    shown = text if len(text) <= 40 else text[:40] + "..."
    return (f"{shown!r} ({len(text):,} characters) could not be matched against {pattern!r} "
            f"within {timeout} s; counted as not matching")


# ``re`` reads these literally; ``regex`` reads them as a POSIX class
# (``[[:alpha:]]``) or a fuzzy-matching constraint (``(?:ab){e<=1}``).
_POSIX_CLASS = re.compile(r"\[:\^?[A-Za-z]+:\]")
_BRACES = re.compile(r"(?<!\\)\{([^}]*)\}")
_REPEAT = re.compile(r"[0-9]*,?[0-9]*")


def ambiguous_for_regex(pattern: str) -> bool:
    """True when ``regex`` could read ``pattern`` otherwise than ``re`` does."""
    if _POSIX_CLASS.search(pattern):
        return True
    return any(not _REPEAT.fullmatch(inside) for inside in _BRACES.findall(pattern))
