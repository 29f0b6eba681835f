"""Reading an uploaded CSV file a batch of rows at a time, so any size runs in flat memory.

The file is a binary file object (the spooled temporary file of a multipart upload); it is
decoded as UTF-8 (a byte-order mark is dropped) and parsed by :mod:`csv` in a worker thread,
one batch per call, so neither the whole file nor the parsing sits on the event loop.

Rows are numbered by line, as a spreadsheet shows them: the header is row 1, and blank lines
count (a record with a quoted line break is numbered by its last line).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import BinaryIO

from voxline.errors import ValidationFailed

BATCH_ROWS = 1000
# Bytes the text wrapper reads from the file at a time.
READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Row:
    number: int
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """The file could not be read past row ``number`` (not UTF-8, a broken quote, a huge
    field): the rows before it were read."""

    number: int
    reason: str


class CsvBatches:
    """The records of a CSV file in batches; ``header`` is known once ``open`` returned."""

    def __init__(self, file: BinaryIO, batch_rows: int = BATCH_ROWS) -> None:
        self._text = io.TextIOWrapper(
            io.BufferedReader(_Unclosing(file), READ_CHUNK), encoding="utf-8-sig", newline=""
        )
        self._reader = csv.reader(self._text)
        self._batch_rows = batch_rows
        self._number = 1  # the line last read
        self.header: list[str] = []
        self.unreadable: Unreadable | None = None

    async def open(self, required: Callable[[list[str]], str | None]) -> None:
        """Read the header; ``required(header)`` names what it lacks, a 422 on ``file``."""
        try:
            first = await asyncio.to_thread(next, self._reader, None)
        except (UnicodeDecodeError, csv.Error):
            raise ValidationFailed.field("file", "must be a UTF-8 CSV file") from None
        if not first:
            raise ValidationFailed.field("file", "is empty; the first row names the columns")
        self.header = [name.strip() for name in first]
        missing = required(self.header)
        if missing is not None:
            raise ValidationFailed.field("file", missing)

    def _next_batch(self) -> list[Row]:
        batch: list[Row] = []
        try:
            for record in self._reader:
                self._number = self._reader.line_num
                if not any(cell.strip() for cell in record):
                    continue
                batch.append(Row(self._number, dict(zip(self.header, record, strict=False))))
                if len(batch) >= self._batch_rows:
                    break
        except UnicodeDecodeError:
            self.unreadable = Unreadable(self._number + 1, "not UTF-8 text from this row on")
        except csv.Error as exc:
            self.unreadable = Unreadable(self._number + 1, f"not readable as CSV: {exc}")
        return batch

    async def __aiter__(self) -> AsyncIterator[list[Row]]:
        while self.unreadable is None:
            batch = await asyncio.to_thread(self._next_batch)
            if not batch:
                return
            yield batch


class _Unclosing(io.RawIOBase):
    """A read-only view of a file object that leaves it open when the view is dropped."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
