"""Parsing an uploaded token list as it streams in: CSV (``token[,platform[,language]]``, an
optional ``token,...`` header) or NDJSON (``{"token": ..., "platform": ..., "language": ...}``
per line). Each good line becomes one row of text-format COPY data (``token, platform,
language``; the staging table numbers the rows); a bad line is counted with its line number (in
the file, from 1) and why. Nothing holds more than one chunk and one unfinished line.

The usual list -- one bare APNs or FCM token per line -- takes a short path: a line of 64 hex
digits is an APNs token (one ``bytes.translate``), a line with ``APA91`` in it is tried as an FCM
token (one match), and the rows of a chunk's bare tokens are joined at once; only the other
lines are split into fields and checked one by one.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from shared.tokens import FCM_PATTERN, PLATFORMS, detect_platform, is_valid_for
from shared.validation import LANGUAGE_PATTERN

Format = Literal["csv", "ndjson"]
MAX_LINE_BYTES = 8192  # a token is at most 4096 characters; a longer line is refused unread
MAX_PROBLEMS = 20  # bad lines reported by number (all are counted)
_LANGUAGE = re.compile(LANGUAGE_PATTERN)
_NULL = "\\N"  # COPY's text format for NULL (tokens and languages never hold a backslash)
_HEX = b"0123456789abcdefABCDEF"
_APNS_CHARS = 64  # shared.tokens: an APNs token is 64 hex digits
_FCM = re.compile(FCM_PATTERN.encode())
_BARE = {"ios": f"\tios\t{_NULL}\n".encode(), "android": f"\tandroid\t{_NULL}\n".encode()}


@dataclass
class Parsed:
    lines: int = 0  # non-empty lines of the audience (the header is not one)
    invalid: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def bad(self, line: int, why: str) -> None:
        self.invalid += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((line, why))


class LineParser:
    """Feed chunks; each call gives the COPY rows (``token\\tplatform\\tlanguage\\n``) of the
    lines it completed."""

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        self.rest = b""
        self.seen = 0  # lines of the file before ``rest`` (empty ones too)
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
        block = data[:cut]
        if self.skipping:  # the end of the over-long line
            end = block.find(b"\n")
            self.skipping = False
            self.seen += 1
            if end < 0:
                return b""
            block = block[end + 1:]
        out = self._block(block)
        if len(self.rest) > MAX_LINE_BYTES:
            self._too_long()
        return out

    def finish(self) -> bytes:
        rest, self.rest = self.rest, b""
        return b"" if self.skipping or not rest.strip() else self._block(rest)

    def _too_long(self) -> None:
        if not self.skipping:
            self.parsed.lines += 1
            self.parsed.bad(self.seen + 1, f"longer than {MAX_LINE_BYTES} bytes")
        self.skipping = True
        self.rest = b""

    def _block(self, block: bytes) -> bytes:
        """The rows of complete lines (``block`` holds no final newline)."""
        first = self.seen + 1
        lines = block.replace(b"\r", b"").split(b"\n")
        self.seen += len(lines)
        if first == 1 and self.fmt == "csv" and _is_header(lines[0].decode("latin-1")):
            lines, first = lines[1:], 2
        ios: list[bytes] = []
        android: list[bytes] = []
        others: list[tuple[int, bytes]] = []
        csv_lines = self.fmt == "csv"
        for number, line in enumerate(lines, first):
            if csv_lines and len(line) == _APNS_CHARS and not line.translate(None, _HEX):
                ios.append(line)
            elif csv_lines and b"APA91" in line and _FCM.fullmatch(line):
                android.append(line)
            elif line:
                others.append((number, line))
        self.parsed.lines += len(ios) + len(android)
        out = [_BARE[p].join(found) + _BARE[p]
               for p, found in (("ios", ios), ("android", android)) if found]
        for number, line in others:
            try:
                row = self._line(line.decode(), number)
            except UnicodeDecodeError:
                if line.strip():
                    self.parsed.lines += 1
                    self.parsed.bad(number, "not UTF-8")
                continue
            if row:
                out.append(row.encode())
        return b"".join(out)

    def _line(self, text: str, number: int) -> str:
        """The row of one line ("" for a blank or bad one, which is counted)."""
        text = text.strip()
        if not text:
            return ""
        self.parsed.lines += 1
        fields = self._fields(text)
        if fields is None:
            self.parsed.bad(number, "not a line of this format")
            return ""
        why = _check(*fields)
        if why:
            self.parsed.bad(number, why)
            return ""
        token, platform, language = fields
        return f"{token}\t{platform or detect_platform(token)}\t{language or _NULL}\n"

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
