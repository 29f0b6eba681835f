"""Cutting a streamed reply into clauses, so speech can start before the reply is complete.

Synthesis of a 4-8 word clause takes ~100 ms, so speaking the first clause while the model
is still writing the rest hides most of the model's latency. A boundary is a sentence end
(``.``, ``!``, ``?``, ``…``, possibly followed by a closing quote or bracket) or a line
break; a comma, semicolon, colon or dash also ends a clause once it has ``min_words`` words
(shorter pieces such as "Yes," or "Well," sound choppy on their own). A boundary is only
confirmed by the whitespace after it, so "3.5" and "1,000" are never cut, and common
abbreviations ("Dr.", "e.g.") do not end a sentence.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator

from voxline.voice.brain.base import EndCall, ToolCall

DEFAULT_MIN_WORDS = 4

# Closing quotes and brackets that may follow a sentence end (including typographic ones).
_CLOSERS = "\"')]\u201d\u2019"
_BOUNDARY = re.compile(rf"(?:[.!?…]+[{re.escape(_CLOSERS)}]*|[,;:—])(?=\s)|\n")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "etc", "e.g", "i.e", "a.m", "p.m"}
)


class ClauseSplitter:
    """Buffers text pieces and hands out complete clauses (stripped, never empty)."""

    def __init__(self, min_words: int = DEFAULT_MIN_WORDS) -> None:
        self.min_words = min_words
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        """Add a piece of text; returns the clauses it completed, in order."""
        self._buffer += text
        clauses: list[str] = []
        start = 0
        for match in _BOUNDARY.finditer(self._buffer):
            candidate = self._buffer[start : match.end()]
            if not self._ends_clause(match.group(), candidate):
                continue
            clause = candidate.strip()
            if clause:
                clauses.append(clause)
            start = match.end()
        self._buffer = self._buffer[start:]
        return clauses

    def flush(self) -> str | None:
        """Whatever is left once the stream ended (a last clause without punctuation)."""
        rest, self._buffer = self._buffer.strip(), ""
        return rest or None

    def _ends_clause(self, mark: str, candidate: str) -> bool:
        if mark == "\n":
            return True
        if mark[0] in ".!?…":
            if mark == ".":
                words = candidate.split()
                last = words[-1].rstrip(".").lower() if words else ""
                # A lone capital ("J.") is an initial, not the end of a sentence.
                if last in _ABBREVIATIONS or (len(last) == 1 and words[-1][0].isupper()):
                    return False
            return True
        return len(candidate.split()) >= self.min_words


async def split_clauses(
    stream: AsyncIterable[str | EndCall | ToolCall], *, min_words: int = DEFAULT_MIN_WORDS
) -> AsyncIterator[str | EndCall | ToolCall]:
    """Re-chunk a brain's streamed reply into clauses; :class:`EndCall` and
    :class:`ToolCall` pass through after the text before them."""
    splitter = ClauseSplitter(min_words)
    async for item in stream:
        if not isinstance(item, str):
            rest = splitter.flush()
            if rest:
                yield rest
            yield item
            continue
        for clause in splitter.feed(item):
            yield clause
    rest = splitter.flush()
    if rest:
        yield rest


def sentences(text: str) -> list[str]:
    """``text`` cut after each sentence end, so speech can start with the first one."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]
