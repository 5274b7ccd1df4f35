"""Parsing an uploaded token list as it streams in: CSV (``token[,platform[,language]]``, an
optional ``token,...`` header) or NDJSON (``{"token": ..., "platform": ..., "language": ...}``
per line). Each good line becomes one row of text-format COPY data; a bad line is counted with
its line number and why. Nothing holds more than one chunk and one unfinished line.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from shared.tokens import PLATFORMS, detect_platform, is_valid_for
from shared.validation import LANGUAGE_PATTERN

Format = Literal["csv", "ndjson"]
MAX_LINE_BYTES = 8192  # a token is at most 4096 characters; a longer line is refused unread
MAX_PROBLEMS = 20  # bad lines reported by number (all are counted)
_LANGUAGE = re.compile(LANGUAGE_PATTERN)
_NULL = "\\N"  # COPY's text format for NULL (tokens and languages never hold a backslash)


@dataclass
class Parsed:
    lines: int = 0
    invalid: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def bad(self, line: int, why: str) -> None:
        self.invalid += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((line, why))


class LineParser:
    """Feed chunks; each call gives the COPY rows (``seq\\ttoken\\tplatform\\tlanguage\\n``) of
    the lines it completed. ``seq`` numbers continue from ``first_seq``."""

    def __init__(self, fmt: Format, first_seq: int) -> None:
        self.fmt = fmt
        self.seq = first_seq
        self.rest = b""
        self.skipping = False  # inside an over-long line, until its end
        self.parsed = Parsed()

    def feed(self, chunk: bytes) -> bytes:
        data = self.rest + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self.rest = data
            if len(data) > MAX_LINE_BYTES:
                self._too_long()
            return b""
        self.rest = data[cut + 1:]
        lines = data[:cut].split(b"\n")
        if self.skipping:
            lines = lines[1:]  # the end of the over-long line
            self.skipping = False
        out = self._rows(lines)
        if len(self.rest) > MAX_LINE_BYTES:
            self._too_long()
        return out

    def finish(self) -> bytes:
        rest, self.rest = self.rest, b""
        return b"" if self.skipping or not rest.strip() else self._rows([rest])

    def _too_long(self) -> None:
        if not self.skipping:
            self.parsed.lines += 1
            self.parsed.bad(self.parsed.lines, f"longer than {MAX_LINE_BYTES} bytes")
        self.skipping = True
        self.rest = b""

    def _rows(self, raw_lines: list[bytes]) -> bytes:
        out: list[str] = []
        parsed = self.parsed
        for raw in raw_lines:
            raw = raw.strip()
            if not raw:
                continue
            parsed.lines += 1
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                parsed.bad(parsed.lines, "not UTF-8")
                continue
            if parsed.lines == 1 and self.fmt == "csv" and _is_header(text):
                parsed.lines = 0  # the header is not a line of the audience
                continue
            fields = self._fields(text)
            if fields is None:
                parsed.bad(parsed.lines, "not a line of this format")
                continue
            why = _check(*fields)
            if why:
                parsed.bad(parsed.lines, why)
                continue
            token, platform, language = fields
            self.seq += 1
            out.append(f"{self.seq}\t{token}\t{platform or detect_platform(token)}\t"
                       f"{language or _NULL}\n")
        return "".join(out).encode()

    def _fields(self, text: str) -> tuple[str, str | None, str | None] | None:
        if self.fmt == "ndjson":
            try:
                item: Any = orjson.loads(text)
            except orjson.JSONDecodeError:
                return None
            if not isinstance(item, dict) or not isinstance(item.get("token"), str):
                return None
            platform, language = item.get("platform"), item.get("language")
            if not all(v is None or isinstance(v, str) for v in (platform, language)):
                return None
            return item["token"], platform or None, language or None
        row = next(csv.reader([text])) if '"' in text else text.split(",")
        if not 1 <= len(row) <= 3:
            return None
        row = [cell.strip() for cell in row] + ["", ""]
        return row[0], row[1] or None, row[2] or None


def _is_header(text: str) -> bool:
    return text.split(",", 1)[0].strip().strip('"').lower() == "token"


def _check(token: str, platform: str | None, language: str | None) -> str | None:
    """Why the line cannot be sent (None: it can)."""
    if platform is not None and platform not in PLATFORMS:
        return f"platform must be one of {', '.join(PLATFORMS)}"
    if language is not None and not _LANGUAGE.match(language):
        return "language must be a tag like en-GB"
    shape = detect_platform(token) if len(token) <= 4096 else None
    if shape is None:
        if platform is None or not is_valid_for(token, platform):
            return "not an APNs or FCM token (name its platform for tokens of another shape)"
    elif platform is not None and shape != platform:
        return f"an {shape} token, not {platform}"
    return None
