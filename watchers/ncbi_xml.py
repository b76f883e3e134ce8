"""Offline reader for NCBI E-utilities XML (esearch, efetch PubMed, elink, epost, einfo, ...).

`read` returns what `Bio.Entrez.read` returns, but it never touches the network: DTDs and XSDs are
only taken from Biopython's bundled copies (or its local cache), a DOCTYPE naming a non-NCBI host
is refused, documents that declare their own entities are refused (no entity bombs, no XXE), and
every failure surfaces as one `NCBIXMLError` with a one-line message.

Differences from `Bio.Entrez.read` (only reachable with hostile input): with ``escape=True`` the
names and attribute values of inline elements kept as markup are HTML-escaped too, so a string
never carries a ``<`` or ``>`` that is not part of a tag Biopython wrote.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse
from xml.parsers import expat
from xml.sax.saxutils import escape as _xml_escape

from Bio.Entrez.Parser import (
    CorruptedXMLError,
    DataHandler,
    NotXMLError,
    ValidationError,
)

__all__ = [
    "MAX_XML_BYTES",
    "NCBIXMLError",
    "dtd_available",
    "is_ncbi_host",
    "read",
    "stand_in_dtd",
    "use_dtd_cache",
]

#: Documents larger than this (200 MiB) are refused before parsing.
MAX_XML_BYTES = 200 * 1024 * 1024

_MAX_MESSAGE = 300
_QUOTE = {'"': "&quot;"}
# A DTD/XSD file name as found in Biopython's DTDs/XSDs directories.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


class NCBIXMLError(Exception):
    """An NCBI XML document could not be read (not XML, corrupted, invalid, refused, NCBI error)."""


def _one_line(text: object) -> str:
    """Collapse whitespace and cap the length, so the message fits one log line."""
    line = " ".join(str(text).split())
    if len(line) > _MAX_MESSAGE:
        line = line[: _MAX_MESSAGE - 3] + "..."
    return line


def is_ncbi_host(host: str) -> bool:
    """True for nlm.nih.gov and its subdomains (dtd.nlm.nih.gov, eutils.ncbi.nlm.nih.gov, ...)."""
    return host == "nlm.nih.gov" or host.endswith(".nlm.nih.gov")


_is_ncbi_host = is_ncbi_host

# Folders of DTDs fetched at run time (watchers.dtds), looked in after Biopython's own.
_dtd_cache_dirs: tuple[str, ...] = ()
# "pubmed_250101.dtd" -> ("pubmed", "250101"): a DTD family and its date
_DATED_DTD = re.compile(r"([A-Za-z][A-Za-z0-9-]*?)_(\d{6})\.dtd\Z")


def use_dtd_cache(folder: str | os.PathLike[str] | None) -> None:
    """Also read DTDs from `folder` (the cache that watchers.dtds fills), in this process."""
    global _dtd_cache_dirs  # noqa: PLW0603 - one setting per process (parse workers get theirs at start)
    _dtd_cache_dirs = (os.fspath(folder),) if folder else ()


def usable_file_name(name: str) -> bool:
    """A bare DTD/module file name (no folder, no scheme): what may be looked up or stored."""
    return bool(_FILE_NAME.match(name)) and name not in (".", "..")


def _bundled_dirs() -> list[str]:
    return [d for d in (DataHandler.local_dtd_dir, DataHandler.global_dtd_dir) if d]


def dtd_available(name: str, extra_dirs: tuple[str, ...] = ()) -> bool:
    """True when the parser can read DTD `name`: bundled with Biopython, or in a cache folder."""
    if not usable_file_name(name):
        return False
    return any(os.path.isfile(os.path.join(d, name)) for d in (*_bundled_dirs(), *_dtd_cache_dirs, *extra_dirs))


def stand_in_dtd(name: str) -> str:
    """The newest bundled DTD of the family of `name` ("pubmed_250101.dtd" for "pubmed_270101.dtd"),
    or '' when `name` is not a dated DTD or none of its family is bundled."""
    match = _DATED_DTD.match(name)
    if not match:
        return ""
    family = match.group(1)
    best = ""
    for folder in _bundled_dirs():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for candidate in names:
            found = _DATED_DTD.match(candidate)
            if found and found.group(1) == family and (not best or found.group(2) > _DATED_DTD.match(best).group(2)):  # type: ignore[union-attr]
                best = candidate
    return best


def _local_name(system_id: str, *, top_level: bool, kind: str) -> str:
    """The file name to look up locally for `system_id`; refuses non-NCBI hosts at top level."""
    parts = urlparse(system_id)
    if parts.scheme:
        if parts.scheme not in ("http", "https"):
            raise NCBIXMLError(_one_line(f"{kind} {system_id!r}: URL scheme {parts.scheme!r} refused"))
        if top_level and not _is_ncbi_host(parts.hostname or ""):
            raise NCBIXMLError(
                _one_line(f"{kind} {system_id!r} is not on an NCBI host; refusing to fetch it")
            )
    name = posixpath.basename(parts.path)
    if not _FILE_NAME.match(name):
        raise NCBIXMLError(_one_line(f"{kind} {system_id!r}: not a usable file name"))
    return name


def _open_cached(name: str) -> Any:
    """DTD `name` from a cache folder (an open binary file), or None."""
    for folder in _dtd_cache_dirs:
        try:
            return open(os.path.join(folder, name), "rb")  # noqa: SIM115 - closed by the caller
        except OSError:
            continue
    return None


class _OfflineDataHandler(DataHandler):
    """Biopython's DataHandler that reads DTDs/XSDs from local files only."""

    def __init__(
        self,
        validate: bool,
        escape: bool,
        ignore_errors: bool,
        each: tuple[str | tuple[str, ...], Callable[[Any], None]] | None = None,
    ) -> None:
        super().__init__(validate, escape, ignore_errors)
        self._dtd_depth = 0
        if each:
            tags, self._each = each
            self._each_tags = frozenset((tags,) if isinstance(tags, str) else tags)
            self.endElementHandler = self._end_element_each  # type: ignore[method-assign]
        # Hand text to Biopython in large chunks, not one call per line or entity: same record, faster.
        # (pyexpat flushes the buffer before every other callback and whenever a handler is swapped.)
        self.parser.buffer_text = True
        # NCBI documents have no internal DTD subset: refuse any entity they declare themselves.
        self.parser.EntityDeclHandler = self._refuse_entity_declaration
        if escape:
            self.characterDataHandler = self._character_data_escaped
            self.startRawElementHandler = self._start_raw_element_escaped  # type: ignore[method-assign]
            self.endRawElementHandler = self._end_raw_element_escaped  # type: ignore[method-assign]

    @staticmethod
    def _refuse_entity_declaration(name: str, *_args: Any) -> None:
        raise NCBIXMLError(_one_line(f"the document declares its own entity {name!r}; refused"))

    def externalEntityRefHandler(
        self, context: str | None, base: str | None, systemId: str | None, publicId: str | None
    ) -> int:
        """Load an external DTD (or DTD module) from Biopython's files; never download it."""
        if context is not None:
            # An external *general* entity (&name; in content): classic XXE, never legitimate here.
            raise NCBIXMLError(_one_line(f"external entity {systemId!r} refused"))
        if not systemId:
            raise NCBIXMLError("external DTD without a system identifier")
        name = _local_name(systemId, top_level=self._dtd_depth == 0, kind="DTD")
        handle = self.open_dtd_file(name) or _open_cached(name)
        if handle is None and self._dtd_depth == 0:
            # A DTD newer than this Biopython, not fetched (watchers.dtds warns): read the answer
            # with the newest bundled one of its family, skipping the elements it does not know.
            stand_in = stand_in_dtd(name)
            if stand_in:
                handle = self.open_dtd_file(stand_in)
                self.validating = False
        if handle is None:
            raise NCBIXMLError(f"DTD {name} is not bundled with Biopython; refusing to download it")
        self._dtd_depth += 1
        try:
            with handle:
                parser = self.parser.ExternalEntityParserCreate(context)
                parser.EntityDeclHandler = None  # bundled DTDs may declare entities
                parser.ElementDeclHandler = self.elementDecl
                parser.ParseFile(handle)
        finally:
            self._dtd_depth -= 1
        self.parser.StartElementHandler = self.startElementHandler
        return 1

    def schemaHandler(self, name: str, attrs: dict[str, str]) -> None:
        """Load the XML schema (XSD) from Biopython's files; never download it."""
        schema = attrs.get(f"{self.schema_namespace} noNamespaceSchemaLocation")
        if not schema:
            raise NCBIXMLError("XML schema instance without noNamespaceSchemaLocation")
        file_name = _local_name(schema, top_level=True, kind="XSD")
        handle = self.open_xsd_file(file_name)
        if handle is None:
            raise NCBIXMLError(f"XSD {file_name} is not bundled with Biopython; refusing to download it")
        with handle:
            self.parse_xsd(ET.fromstring(handle.read()))
        self.startElementHandler(name, attrs)
        self.parser.StartElementHandler = self.startElementHandler

    def _character_data_escaped(self, content: str) -> None:
        """`characterDataHandlerEscape`, skipping the escape call for the usual chunk with nothing to escape."""
        if "&" in content or "<" in content or ">" in content:
            content = _xml_escape(content)
        self.data.append(content)

    def _start_raw_element_escaped(self, name: str, attrs: dict[str, str]) -> None:
        """`startRawElementHandler` with the tag name and attributes escaped."""
        if self.namespace_prefix:
            try:
                uri, name = name.split()
            except ValueError:
                pass
            else:
                prefix = self.namespace_prefix[uri]
                if self.namespace_level[prefix] == 1:
                    attrs = {"xmlns": uri}
        tag = "<" + _xml_escape(name, _QUOTE)
        for key, value in attrs.items():
            tag += f' {_xml_escape(key, _QUOTE)}="{_xml_escape(value, _QUOTE)}"'
        self.data.append(tag + ">")
        self.parser.EndElementHandler = self.endRawElementHandler
        self.level += 1

    def _end_raw_element_escaped(self, name: str) -> None:
        """`endRawElementHandler` with the tag name escaped."""
        self.level -= 1
        if self.level == 0:
            self.parser.EndElementHandler = self.endStringElementHandler
        if self.namespace_prefix:
            try:
                _uri, name = name.split()
            except ValueError:
                pass
        self.data.append("</" + _xml_escape(name, _QUOTE) + ">")

    def _end_element_each(self, name: str) -> None:
        """`endElementHandler` with `each`: a finished child of the document element with that
        tag is handed over and taken out of the record, so a long document is never one tree."""
        element = self.element
        super().endElementHandler(name)
        if element.tag not in self._each_tags:
            return
        root = self.element
        if root is None or root is not self.record:
            return
        if isinstance(root, list):
            if root and root[-1] is element:
                root.pop()
        else:  # a DictionaryElement: a repeated tag is a list under its key, or the value itself
            stored = root.get(element.tag)
            if isinstance(stored, list) and stored and stored[-1] is element:
                stored.pop()
            elif stored is element:
                del root[element.tag]
        self._each(element)

    def endErrorElementHandler(self, tag: str) -> None:
        """Turn an <ERROR> element from NCBI into an NCBIXMLError."""
        try:
            super().endErrorElementHandler(tag)
        except RuntimeError as exc:
            raise NCBIXMLError(_one_line(f"NCBI returned an error: {exc}")) from None


def read(
    data: bytes,
    *,
    escape: bool = False,
    each: tuple[str | tuple[str, ...], Callable[[Any], None]] | None = None,
) -> Any:
    """Parse one NCBI XML document like `Bio.Entrez.read(validate=True)`, offline and guarded.

    With ``escape=True`` strings are HTML-escaped and inline markup (<i>, <sup>, ...) is kept as tags.
    With ``each=(tag, callback)`` every child of the document element with that tag (or one of
    those tags, given a tuple) is passed to
    `callback` as soon as it is complete (in document order) and left out of the returned record:
    a 400-record efetch answer is then never in memory as one tree.  A callback exception ends
    the parse as an NCBIXMLError.
    Raises NCBIXMLError for anything that is not a readable NCBI document.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"NCBI XML must be bytes, not {type(data).__name__}")
    if len(data) > MAX_XML_BYTES:
        raise NCBIXMLError(f"XML document of {len(data)} bytes exceeds the {MAX_XML_BYTES} byte limit")
    if not data:
        raise NCBIXMLError("empty document")
    handler = _OfflineDataHandler(validate=True, escape=escape, ignore_errors=False, each=each)
    try:
        return handler.read(io.BytesIO(data))
    except NCBIXMLError:
        raise
    except MemoryError:
        raise
    except NotXMLError as exc:
        raise NCBIXMLError(_one_line(f"not XML: {exc.msg}")) from exc
    except CorruptedXMLError as exc:
        raise NCBIXMLError(_one_line(f"corrupted XML: {exc.msg}")) from exc
    except ValidationError as exc:
        raise NCBIXMLError(_one_line(f"element <{exc.name}> is not defined in the DTD")) from exc
    except expat.ExpatError as exc:  # from a DTD file
        raise NCBIXMLError(_one_line(f"XML error: {exc}")) from exc
    except Exception as exc:  # Biopython's asserts, KeyErrors ... on hostile input
        raise NCBIXMLError(_one_line(f"cannot read NCBI XML: {type(exc).__name__}: {exc}")) from exc
    finally:
        # The handler is in reference cycles (its expat parser's callbacks, the handler methods it
        # stores on itself) that hold the whole parsed document until the cyclic collector runs;
        # breaking them frees what the caller does not keep at once (13 MB for 59,000 ids).
        handler.__dict__.clear()

