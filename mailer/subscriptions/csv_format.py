"""The CSV files of subscribers that editors upload and download: reading an upload (size,
UTF-8, header), and cells escaped against formula injection in spreadsheets.

What the rows mean (validation, writing) is importing.py; the export is exporting.py.
"""

from __future__ import annotations

import csv
import io

COLUMNS = ("email", "name", "language")
EXPORT_COLUMNS = ("email", "name", "language", "list", "status", "subscribed_at", "confirmed_at")
# An export can be imported again: its other columns are read past, never stored.
IGNORED = EXPORT_COLUMNS[len(COLUMNS) :]
# A cell starting with one of these is a formula in a spreadsheet (CSV injection): export
# prefixes it with "'", import takes that prefix off again.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class BadFile(ValueError):
    """The whole file is refused (not CSV, wrong header, not UTF-8, too large): nothing written."""


class FileTooLarge(BadFile):
    """The file is over the size limit."""


def read_csv(data: bytes, max_bytes: int) -> list[tuple[int, dict[str, str]]]:
    """(line, {column: value}) per record of a CSV with an `email[,name][,language]` header."""
    if len(data) > max_bytes:
        raise FileTooLarge(f"The file is larger than {max_bytes // (1024 * 1024) or 1} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFile("The file is not UTF-8 text; save it as “CSV UTF-8”.") from None
    if "\x00" in text:  # a spreadsheet's binary file, UTF-16 text, or a NUL PostgreSQL refuses
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise BadFile(
            f"The file contains a NUL character (line {line}): it is not a CSV text file."
            " Save it as “CSV UTF-8” and remove the character."
        )
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise BadFile("The file is empty.")
        columns = [cell.strip().lower() for cell in header]
        if "email" not in columns or any(c not in EXPORT_COLUMNS for c in columns):
            raise BadFile(
                "The first line must be a header of the columns email, name, language "
                "(name and language optional, no other columns)."
            )
        if len(set(columns)) != len(columns):
            raise BadFile("A column is named twice in the header.")
        rows: list[tuple[int, dict[str, str]]] = []
        start = reader.line_num + 1
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(columns):
                rows.append((line, {"": "too many columns"}))
                continue
            cells = dict(zip(columns, record, strict=False))
            rows.append((line, {k: v for k, v in cells.items() if k in COLUMNS}))
    except csv.Error as exc:
        raise BadFile(f"The file is not valid CSV (line {reader.line_num}): {exc}.") from None
    return rows


def unescape_cell(value: str) -> str:
    if value.startswith("'") and value[1:2] and value[1] in FORMULA_START:
        return value[1:]
    return value


def escape_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value
