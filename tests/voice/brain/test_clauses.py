"""Cutting streamed text into clauses for clause-by-clause speech."""

from __future__ import annotations

from collections.abc import AsyncIterator

from voxline.voice.brain.base import EndCall
from voxline.voice.brain.clauses import ClauseSplitter, split_clauses


def clauses_of(pieces: list[str], min_words: int = 4) -> list[str]:
    splitter = ClauseSplitter(min_words)
    out = [clause for piece in pieces for clause in splitter.feed(piece)]
    rest = splitter.flush()
    return [*out, rest] if rest else out


def test_sentences_are_cut_when_the_next_word_begins() -> None:
    splitter = ClauseSplitter()

    assert splitter.feed("Hello there.") == []  # could still become "there.5"
    assert splitter.feed(" How are") == ["Hello there."]
    assert splitter.flush() == "How are"


def test_text_streamed_character_by_character_gives_the_same_clauses() -> None:
    text = "Yes! We open at 9.30 on weekdays, and at ten on Saturdays. See you soon"

    assert (
        clauses_of(list(text))
        == clauses_of([text])
        == [
            "Yes!",
            "We open at 9.30 on weekdays,",
            "and at ten on Saturdays.",
            "See you soon",
        ]
    )


def test_short_comma_pieces_stay_with_what_follows() -> None:
    assert clauses_of(["Well, okay, so that works for me, thanks."]) == [
        "Well, okay, so that works for me,",
        "thanks.",
    ]


def test_numbers_abbreviations_and_initials_do_not_end_a_sentence() -> None:
    text = "Dr. Smith charges 1,200 dollars, e.g. for a crown. J. Doe agreed."

    assert clauses_of([text]) == [
        "Dr. Smith charges 1,200 dollars,",
        "e.g. for a crown.",
        "J. Doe agreed.",
    ]


def test_line_breaks_and_closing_quotes_end_clauses() -> None:
    assert clauses_of(['He said "fine." Then\nwe left']) == ['He said "fine."', "Then", "we left"]


async def test_end_call_passes_through_after_the_text_before_it() -> None:
    async def reply() -> AsyncIterator[str | EndCall]:
        for piece in ("Thanks for your time", ", goodbye"):
            yield piece
        yield EndCall("done")

    items = [item async for item in split_clauses(reply())]

    assert items == ["Thanks for your time,", "goodbye", EndCall("done")]
