"""A campaign's content: a push's fields (``shared.payload``'s model and limits) for the default
and for each language, and the fallback chain that picks one per recipient.

A recipient whose language is ``fr-CA`` gets ``languages["fr-CA"]``, else ``languages["fr"]``,
else the first language of ``fallback`` that has content, else the default ``content``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.jobs import MessageContent
from shared.payload import CONTENT_KEYS, FieldError, Limits, check_platform_limits, parse_push
from shared.tokens import Platform

# parse_push validates a whole push body: content is checked with a stand-in token, which is
# never stored or sent.
_STAND_IN_TOKEN = "0" * 64


def parse_content(raw: Any, limits: Limits, where: str, platforms: Iterable[Platform],
                  now: float) -> tuple[MessageContent | None, list[FieldError]]:
    """The content of a push, or the errors, each named ``<where>.<field>``."""
    if not isinstance(raw, dict):
        return None, [FieldError("INVALID_FORMAT", where,
                                 f"'{where}' must be an object of a push's content fields")]
    unknown = sorted(set(raw) - CONTENT_KEYS)
    if unknown:
        return None, [FieldError("INVALID_FORMAT", f"{where}.{unknown[0]}",
                                 f"'{unknown[0]}' is not a content field; use "
                                 f"{', '.join(sorted(CONTENT_KEYS))}")]
    request, errors = parse_push({**raw, "device_tokens": [_STAND_IN_TOKEN]}, limits, now)
    if request is None:
        return None, [_within(where, e) for e in errors]
    errors = check_platform_limits(request.content, platforms, limits)
    if errors:
        return None, [_within(where, e) for e in errors]
    return request.content, []


def _within(where: str, error: FieldError) -> FieldError:
    return FieldError(error.code, f"{where}.{error.parameter}", error.message, error.value)


def content_for(language: str | None, default: MessageContent,
                languages: Mapping[str, MessageContent], fallback: Iterable[str]
                ) -> tuple[str | None, MessageContent]:
    """(the language whose content is used, or None for the default; that content)."""
    chain: list[str] = []
    if language:
        chain.append(language)
        primary = language.replace("_", "-").split("-", 1)[0]
        if primary != language:
            chain.append(primary)
    chain.extend(fallback)
    for tag in chain:
        found = languages.get(tag)
        if found is not None:
            return tag, found
    return None, default
