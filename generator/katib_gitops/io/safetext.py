"""Output is data, not control: the one sanitiser every printed value goes through.

Everything katib-gitops prints comes partly from untrusted input (specs, settings, live status, file
names, kubectl's stderr, a trial's log). Printed raw, such a value can drive the terminal (ANSI escapes,
``\\r`` rewriting the line), hide or reorder text (bidi overrides U+202A-U+202E and U+2066-U+2069, zero-width
characters: "Trojan Source"), or drive GitHub Actions, which reads every line of a step's output as a
possible workflow command (``::add-mask::``, ``::error::``, ``::stop-commands::``): a line whose first
non-blank characters are ``::`` (the runner trims leading whitespace first, ActionCommand.TryParseV2), or a
line holding ``##[`` anywhere (the older form, ActionCommand.TryParse).

``clean`` is that sanitiser. It escapes every character of Unicode categories Cc (C0 and C1 controls, DEL),
Cf (format characters: bidi controls, zero-width characters, soft hyphen, tag characters), Zl and Zp (line
and paragraph separators) and Cs (lone surrogates, from undecodable file names), and neutralises ``##[``
and a leading ``::``. Its escapes (``\\n``, ``\\t``, ``\\u202e``, a surrogate pair for characters beyond
the BMP) are the ones JSON and YAML double-quoted strings share, so a cleaned JSON document or quoted YAML
scalar still decodes to exactly the original data; in plain text they read as what they stand for.

Reporters clean each line they build (``clean_lines`` for text made of lines); markdown puts values in code
spans (``md_code``); GitHub workflow commands escape data as the runner unescapes it (``gh_data``,
``gh_property``); the YAML dumper quotes any string ``unsafe`` finds (``yamlio``).
"""

from __future__ import annotations

import re

# Unicode categories Cc, Cf, Zl, Zp and Cs (Unicode 15.1; tests check the running Python's tables).
_CLASS = ("\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
          "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
          "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
_UNSAFE_CHAR = re.compile(f"[{_CLASS}]")
# Anything clean would change: an unsafe character, the old command prefix anywhere, or "::" first on a line.
_UNSAFE = re.compile(f"[{_CLASS}]|##\\[|^\\s*::", re.MULTILINE)
# The same in text made of lines: a line break is no harm there, a line starting with "::" is.
_UNSAFE_IN_LINES = re.compile(f"(?![\\n])[{_CLASS}]|##\\[|^[^\\S\\n]*::", re.MULTILINE)
_LEADING_COMMAND = re.compile(r"^(\s*):(?=:)")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON writes characters beyond the BMP
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def clean(text: object) -> str:
    """text as one safe line: control, format and separator characters escaped, ``##[`` broken up, a leading
    ``::`` (after blanks) escaped. Plain printable text comes back unchanged."""
    text = text if isinstance(text, str) else str(text)
    if _plain(text) or _UNSAFE.search(text) is None:
        return text
    text = _UNSAFE_CHAR.sub(_escape, text)
    text = text.replace("##[", "##\\u005b")
    return _LEADING_COMMAND.sub(lambda m: m.group(1) + "\\u003a", text, count=1)


def clean_lines(text: str) -> str:
    """Multi-line text katib-gitops built (a report, a summary): each line cleaned, line breaks kept."""
    if _plain_lines(text) or _UNSAFE_IN_LINES.search(text) is None:
        return text
    return "\n".join(clean(line) for line in text.split("\n"))


def unsafe(text: str) -> bool:
    """Whether any line of text holds something ``clean`` would change (the YAML dumper quotes such strings)."""
    return not _plain_lines(text) and _UNSAFE_IN_LINES.search(text) is not None


def _plain_lines(text: str) -> bool:
    """``_plain`` for text made of lines (a generated file: checked whole, in C)."""
    return "::" not in text and "##[" not in text and (text.isprintable() or text.replace("\n", "").isprintable())


def _plain(text: str) -> bool:
    """The common case, decided in C: no control, format, separator or surrogate character (str.isprintable
    is false for all of them) and neither command prefix. (Spaces other than U+0020 and line breaks are not
    printable either: such text takes the regular expression.)"""
    return text.isprintable() and "::" not in text and "##[" not in text


# --------------------------------------------------------------------------- GitHub workflow commands


def gh_data(value: object) -> str:
    """The message of a workflow command: cleaned, then escaped as the runner unescapes data."""
    return clean(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def gh_property(value: object) -> str:
    """A property value (file=, title=): as data, and ``:`` and ``,`` too (they end a property)."""
    return gh_data(value).replace(":", "%3A").replace(",", "%2C")


# --------------------------------------------------------------------------- markdown


def md_code(value: object, cell: bool = False) -> str:
    """value as a markdown code span: nothing inside one is markup (no HTML such as ``</details>`` or
    ``<!--``, no @mention, image or link), and the fence is longer than any backtick run in it. cell: the
    span sits in a table, where GitHub splits cells at ``|`` even inside code spans unless escaped."""
    text = clean(value)
    if not text:
        return "(empty)"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    if cell:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"
