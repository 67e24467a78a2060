"""Text cleaning applied before a document is split (the ``pre_processing_rules``).

``clean(text, rules)`` always normalises the text, whatever the rules say:

* line endings become ``"\\n"`` (``\\r\\n``, ``\\r``, vertical tab, form feed, the file/group/record
  separators, NEL and U+2028 count as one line break; U+2029 as a paragraph break);
* C0/C1 control characters other than tab and newline, DEL, byte-order marks, the
  non-characters U+FFFE/U+FFFF and unpaired surrogates are deleted.

Then the enabled rules run, URL removal first so the spaces it leaves are collapsed too:

``remove_urls_emails``
    Removes ``http(s)://``, ``ftp(s)://`` and ``www.`` URLs and e-mail addresses (with an
    optional ``mailto:``). Markdown stays readable: ``[text](url)`` becomes ``text``,
    ``![alt](url)`` becomes ``alt``, ``<url>`` autolinks and ``[id]: url`` reference
    definitions disappear. Images and links whose target is not a URL (``/files/x.png``) are
    kept as they are. Trailing sentence punctuation after a URL is kept.
``remove_extra_spaces``
    Collapses every run of horizontal whitespace (spaces, tabs, no-break and other Unicode
    spaces) to one space, drops spaces at line ends, turns three or more line breaks into two
    and strips the text.

All patterns are linear-time, so multi-megabyte documents clean quickly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .process_rules import PreProcessingRule, ProcessRule

__all__ = ["CleaningRules", "clean", "normalize", "remove_extra_spaces", "remove_urls_emails"]

CleaningRules = ProcessRule | Iterable[PreProcessingRule | str]
"""A process rule, its cleaning rules, or the ids of the enabled rules."""

_LINE_BREAK = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff\ufffe\uffff\ud800-\udfff]")

# Runs of horizontal whitespace other than a lone plain space (which needs no rewrite).
_HSPACE_RUN = re.compile(r"[^\S\n ][^\S\n]*| [^\S\n]+")
_TRAILING_SPACE = re.compile(r" +\n")
_MANY_NEWLINES = re.compile(r"\n{3,}")

_SCHEME = r"(?:(?:https?|ftps?)://|www\.)"
_URL_CHAR = r"[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]"
# A URL is a scheme then URL characters, allowing balanced parentheses (Wikipedia style).
_URL = re.compile(rf"(?<![A-Za-z0-9]){_SCHEME}(?:{_URL_CHAR}|\({_URL_CHAR}*\))+", re.IGNORECASE)
_URL_TAIL = re.compile(r"[.,;:!?'*]+$")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9.!#$%&'*+/=?^_`{|}~-])(?:mailto:)?[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}(?![A-Za-z0-9-])",
    re.IGNORECASE,
)
_TARGET = r"[^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*"
_MD_LINK = re.compile(
    rf"!?\[([^\[\]\n]*)\]\(\s*(?:<(?:{_SCHEME}|mailto:)[^<>\n]*>|(?:{_SCHEME}|mailto:){_TARGET})"
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)",
    re.IGNORECASE,
)
_MD_AUTOLINK = re.compile(rf"<(?:{_SCHEME}|mailto:)[^\s<>]*>|<[^\s<>@]+@[^\s<>@]+>", re.IGNORECASE)
_MD_REFERENCE = re.compile(
    rf"^[ \t]*\[[^\]\n]+\]:[ \t]*<?(?:{_SCHEME}|mailto:)[^\n]*$", re.IGNORECASE | re.MULTILINE
)


def normalize(text: str) -> str:
    """Unify line breaks and delete control characters, BOMs and unpaired surrogates."""
    text = _LINE_BREAK.sub("\n", text).replace("\u2029", "\n\n")
    return _CONTROL.sub("", text)


def remove_extra_spaces(text: str) -> str:
    """Collapse horizontal whitespace runs, drop line-end spaces, cap blank lines, strip."""
    text = _HSPACE_RUN.sub(" ", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def _drop_url(match: re.Match[str]) -> str:
    # Keep punctuation that ends the sentence rather than the URL ("see http://x.org.").
    tail = _URL_TAIL.search(match.group())
    return tail.group() if tail else ""


def remove_urls_emails(text: str) -> str:
    """Remove URLs and e-mail addresses, keeping Markdown link and image text."""
    # Each pattern only runs when its cheap trigger occurs (plain prose skips most of them).
    if "]:" in text:
        text = _MD_REFERENCE.sub("", text)
    if "<" in text:
        text = _MD_AUTOLINK.sub("", text)
    # Twice, so a badge "[![alt](img-url)](link-url)" reduces to "alt".
    for _ in range(2):
        if "](" in text:
            text = _MD_LINK.sub(r"\1", text)
    if "@" in text:
        text = _EMAIL.sub("", text)
    if "://" in text or "www." in text.lower():
        text = _URL.sub(_drop_url, text)
    return text


def _enabled_ids(rules: CleaningRules) -> frozenset[str]:
    if isinstance(rules, ProcessRule):
        return rules.enabled_rule_ids
    ids: set[str] = set()
    for rule in rules:
        if isinstance(rule, str):
            ids.add(rule)
        elif rule.enabled:
            ids.add(rule.id)
    return frozenset(ids)


def clean(text: str, rules: CleaningRules = ()) -> str:
    """Normalise ``text`` and apply the enabled cleaning rules (see the module docstring)."""
    enabled = _enabled_ids(rules)
    text = normalize(text)
    if "remove_urls_emails" in enabled:
        text = remove_urls_emails(text)
    if "remove_extra_spaces" in enabled:
        text = remove_extra_spaces(text)
    return text
