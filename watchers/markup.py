"""PubMed's inline markup, kept safe and small: one linear pass over escaped parser output.

The parser (watchers.ncbi_xml, ``escape=True``) hands over a title or an abstract section as
escaped text in which every ``<`` opens a tag it wrote (names and attribute values escaped too).
`sanitize` walks those tags once, with a stack, and keeps only:

* PubMed's inline tags (`INLINE_TAGS`), bare (no attributes), each closed in the field that opened
  it: a field never leaves bold or italic open for the rest of a page (closing tags the input
  lacks are added, stray ones dropped);
* at most `MAX_INLINE_DEPTH` of them nested and `MAX_INLINE_TAGS` in one field: past either
  bound the markup is dropped and its text kept as plain text, so no HTML renderer or CSS inliner
  ever gets a pathological tree (20,000 nested ``<i>`` crashed one);
* MathML (the element named exactly ``math``) as its text, layout whitespace between its tags
  dropped; every other element is dropped with its text kept.

With `max_chars` the field's text is cut (at a character, never inside an entity) and ends with
"…"; the tags still open are closed.  Time and memory are linear in the input.
"""

from __future__ import annotations

import html
import re
from collections import Counter

__all__ = [
    "INLINE_TAGS",
    "MAX_INLINE_DEPTH",
    "MAX_INLINE_TAGS",
    "html_to_text",
    "sanitize",
    "truncate_text",
]

# PubMed's inline markup, the only tags kept.
INLINE_TAGS = frozenset({"i", "b", "sup", "sub", "u"})
#: Kept inline tags open at once, at most (real records nest two or three).
MAX_INLINE_DEPTH = 8
#: Kept inline tags in one field, at most (real titles hold a handful, long abstracts some dozens).
MAX_INLINE_TAGS = 400
ELLIPSIS = "…"

# In escaped text every "<" opens a tag the parser wrote, and names/attributes hold no "<" or ">".
_TAG_RE = re.compile(r"<(/?)([^\s>/]*)[^>]*>")
_LAYOUT_WS_RE = re.compile(r"[ \t\r]*\n\s*")  # indentation between MathML tags
_ENTITY_TAIL_RE = re.compile(r"&[#\w]*\Z")


def _cut(text: str, n: int) -> str:
    """The first `n` characters of escaped `text`, never ending inside an entity ('&am')."""
    head = text[:n]
    if "&" in head[-10:]:
        head = _ENTITY_TAIL_RE.sub("", head)
    return head


def sanitize(escaped: str, *, keep_tags: bool = True, max_chars: int | None = None) -> str:
    """Escaped parser output -> safe inline HTML (see the module docstring), stripped.

    With ``keep_tags=False`` no tag is kept (the text of the field, still escaped).
    """
    if "<" not in escaped:
        text = escaped.strip()
        if max_chars is not None and len(text) > max_chars:
            text = _cut(text, max_chars).rstrip() + ELLIPSIS
        return text
    out: list[str] = []
    # Open inline elements (kept or not, so that their end tags pair up) and how many of each.
    stack: list[tuple[str, bool]] = []
    open_names: Counter[str] = Counter()
    depth = 0  # kept tags open
    kept = 0  # kept tags so far
    math_depth = 0
    math_text: list[str] = []
    budget = max_chars if max_chars is not None else -1
    pos = 0

    def add(text: str) -> bool:
        """Append text within the budget; False once the budget is spent."""
        nonlocal budget
        if budget < 0:
            out.append(text)
            return True
        if len(text) <= budget:
            out.append(text)
            budget -= len(text)
            return True
        out.append(_cut(text, budget).rstrip() + ELLIPSIS)
        budget = 0
        return False

    for match in _TAG_RE.finditer(escaped):
        if match.start() > pos:
            chunk = escaped[pos : match.start()]
            if math_depth:
                if not _LAYOUT_WS_RE.fullmatch(chunk):
                    math_text.append(chunk)
            elif not add(chunk):
                break
        pos = match.end()
        closing, name = match.group(1), match.group(2)
        if name == "math":
            if not closing:
                math_depth += 1
            elif math_depth:
                math_depth -= 1
                if not math_depth:
                    flat = "".join(math_text).strip()
                    math_text.clear()
                    if flat and not add(flat):
                        break
            continue
        if math_depth or name not in INLINE_TAGS:
            continue
        if not closing:
            keep = keep_tags and depth < MAX_INLINE_DEPTH and kept < MAX_INLINE_TAGS
            stack.append((name, keep))
            open_names[name] += 1
            if keep:
                depth += 1
                kept += 1
                out.append(f"<{name}>")
        elif open_names[name]:
            while stack:  # close down to the matching start tag (crossed tags: the inner ones close too)
                top, was_kept = stack.pop()
                open_names[top] -= 1
                if was_kept:
                    depth -= 1
                    out.append(f"</{top}>")
                if top == name:
                    break
    else:
        tail = escaped[pos:]
        if math_depth:
            math_text.append(tail)
            flat = "".join(math_text).strip()
            if flat:
                add(flat)
        elif tail:
            add(tail)
    for top, was_kept in reversed(stack):
        if was_kept:
            out.append(f"</{top}>")
    return "".join(out).strip()


def truncate_text(text: str, max_chars: int) -> str:
    """Plain text cut to `max_chars` characters, ending with "…" when cut."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars].rstrip() + ELLIPSIS


def html_to_text(fragment: str) -> str:
    """Safe inline HTML -> plain text: tags dropped, MathML as text, entities unescaped, whitespace collapsed."""
    if "<" in fragment:
        if "<math" in fragment:
            fragment = sanitize(fragment, keep_tags=False)
        else:
            fragment = _TAG_RE.sub("", fragment)
    if "&" in fragment:
        fragment = html.unescape(fragment)
    return " ".join(fragment.split())
