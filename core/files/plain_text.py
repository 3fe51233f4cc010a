"""Text files as DuckDB's CSV reader can take them: UTF-8, with line breaks it can follow.

A file that already is (the common case) is read in place after one quick pass; any other is
copied once into a temporary UTF-8 file: UTF-16 when it starts with a UTF-16 BOM, else every
byte sequence that is not UTF-8 is read as Windows-1252. DuckDB 2.0's CSV reader also fails on
a whole file when its line breaks are mixed (LF and CRLF, e.g. concatenated logs) or when a CR
that is not a line break sits in a value, so such files are copied with every line break
outside quotes as LF and those CRs swapped for a character the file does not hold, which SQL
swaps back (`TextFile.restore`). Files whose line breaks are bare CRs are read as they are.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import FileProblem

GZIP_ERRORS = (OSError, EOFError, zlib.error)
_CHUNK = 1 << 20
_TRANSCODE_ERRORS = "modelbridge-cp1252"
_CP1252_UNDEFINED = {0x81, 0x8D, 0x8F, 0x90, 0x9D}
_LONE_CR = re.compile("\r(?!\n)")
_CR = re.compile("\r\n?")
_BARE_LF = re.compile("(?<!\r)\n")
_CR_STANDINS = ("\uf8fd", "\uf8fe", "\uf8ff")  # private-use characters


def _bytes_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    # cp1252 leaves five bytes undefined; Latin-1 maps them to the same code points.
    text = "".join(chr(b) if b in _CP1252_UNDEFINED else bytes([b]).decode("cp1252") for b in bad)
    return text, exc.end


codecs.register_error(_TRANSCODE_ERRORS, _bytes_as_cp1252)


def open_bytes(path: Path, gz: bool) -> io.BufferedIOBase:
    """The file's bytes, gunzipped when GZ."""
    return gzip.open(path, "rb") if gz else path.open("rb")


@dataclass(frozen=True)
class TextFile:
    """A text file as DuckDB can read it: UTF-8, with a stand-in for carriage returns in values."""

    path: Path
    gz: bool
    standin: str | None = None  # replaces each CR that is not a line break; restored in SQL
    warnings: tuple[str, ...] = ()

    def restore(self, expr: str) -> str:
        """SQL giving back the carriage returns the stand-in replaced in EXPR."""
        # A stand-in is a private-use character: nothing to escape in the literal.
        return f"replace({expr}, '{self.standin}', chr(13))" if self.standin else expr


def _decoded(path: Path, gz: bool, encoding: str, errors: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    with open_bytes(path, gz) as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            yield decoder.decode(chunk)
    yield decoder.decode(b"", final=True)


def _without_trailing_cr(chunks: Iterator[str]) -> Iterator[str]:
    """The chunks again, a CR at a chunk's end moved to the next so CRLF is never split."""
    carry = ""
    for chunk in chunks:
        text, carry = carry + chunk, ""
        if text.endswith("\r"):
            text, carry = text[:-1], "\r"
        yield text
    if carry:
        yield carry


def as_text(path: Path, gz: bool, workdir: Path, name: str, *, quoted: bool) -> TextFile:
    """PATH when DuckDB can read it as it is, else a UTF-8 copy in WORKDIR (see above).

    QUOTED says whether line breaks can sit inside quoted fields (CSV) or not (JSON Lines).
    """
    with open_bytes(path, gz) as fh:
        utf16 = fh.read(2) in (b"\xff\xfe", b"\xfe\xff")
    encoding, errors = ("utf-16", "strict") if utf16 else ("utf-8", "strict")
    warnings = [f"{name}: read as UTF-16 (byte-order mark)"] if utf16 else []
    try:
        try:
            shape = _scan(_decoded(path, gz, encoding, errors))
        except UnicodeDecodeError:
            if utf16:
                raise
            errors = _TRANSCODE_ERRORS
            warnings.append(f"{name}: not UTF-8; bytes that are not were read as Windows-1252")
            shape = _scan(_decoded(path, gz, encoding, errors))
        if not (warnings or shape.mixed):
            return TextFile(path, gz)
        standin = (shape.standin or _no_standin(name)) if shape.mixed else None
        out = workdir / "text.txt"
        inside = False
        with out.open("w", encoding="utf-8", newline="") as dst:
            for text in _without_trailing_cr(_decoded(path, gz, encoding, errors)):
                if standin and "\r" in text:
                    text, inside = _normalise(text, inside, standin, quoted)
                elif standin and quoted:
                    inside ^= text.count('"') % 2 == 1
                dst.write(text)
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{name}: not valid {encoding.upper()} text ({exc.reason})") from None
    except GZIP_ERRORS as exc:
        raise FileProblem(f"{name}: damaged gzip file ({exc})") from None
    return TextFile(out, False, standin, tuple(warnings))


@dataclass(frozen=True)
class _Shape:
    """What a first pass over a text file found."""

    mixed: bool  # line breaks DuckDB cannot read as they are
    standin: str | None  # a CR stand-in the text does not hold


def _scan(chunks: Iterator[str]) -> _Shape:
    lone_cr = crlf = bare_lf = False
    first, absent = "", set(_CR_STANDINS)
    for text in _without_trailing_cr(chunks):
        if not first and ("\r" in text or "\n" in text):
            cut = min(i for i in (text.find("\r"), text.find("\n")) if i >= 0)
            first = "\n" if text.startswith("\r\n", cut) else text[cut]
        if "\r" in text:
            lone_cr = lone_cr or _LONE_CR.search(text) is not None
            crlf = crlf or "\r\n" in text
            bare_lf = bare_lf or _BARE_LF.search(text) is not None
        absent -= {c for c in absent if c in text}
    mixed = first != "\r" and (lone_cr or (crlf and bare_lf))
    return _Shape(mixed, min(absent) if absent else None)


def _normalise(text: str, inside: bool, standin: str, quoted: bool) -> tuple[str, bool]:
    """TEXT with CRLF outside quotes as LF and other CRs as STANDIN; INSIDE: in a quoted field.

    Quote parity tells inside from outside (a doubled quote flips it twice); only the CRs are
    visited in Python, the quotes between them are counted in C.
    """
    out, last = [], 0
    for match in _CR.finditer(text):
        inside ^= quoted and text.count('"', last, match.start()) % 2 == 1
        out.append(text[last : match.start()])
        if match.group() != "\r\n":
            out.append(standin)
        else:
            out.append("\r\n" if inside else "\n")
        last = match.end()
    inside ^= quoted and text.count('"', last) % 2 == 1
    out.append(text[last:])
    return "".join(out), inside


def _no_standin(name: str) -> str:
    raise FileProblem(
        f"{name}: holds carriage returns inside values and every stand-in character "
        f"{list(_CR_STANDINS)}; it cannot be read"
    )
