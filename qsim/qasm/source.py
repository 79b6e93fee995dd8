"""Reading a program file: only a regular file, at most ``MAX_SOURCE_BYTES``, UTF-8 text.

Called by: ``qsim.cli`` (``python -m qsim run FILE``).  A FIFO, a device (``/dev/zero``), a directory
or a socket is refused before anything is read, so the command never blocks or reads without end;
a file that is not UTF-8 (binary, UTF-16, latin-1) is refused naming the first bad byte's line and
column.  A UTF-8 byte-order mark is accepted and dropped.
"""

from __future__ import annotations

import codecs
import os
import stat

from qsim.errors import ProgramError, QsimError
from qsim.qasm.limits import MAX_SOURCE_BYTES

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"), (stat.S_ISSOCK, "a socket"))


def read_program_file(path: str, limit: int = MAX_SOURCE_BYTES) -> str:
    """The text of the program at ``path``.

    Raises:
        QsimError: ``path`` cannot be opened, is not a regular file, or is larger than ``limit`` bytes.
        ProgramError: the bytes are not UTF-8 text.
    """
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait; a regular file ignores the flag.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise QsimError(f"cannot read program file {path!r}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise QsimError(f"program file {path!r} is {kind}; give the path of a regular file")
        if st.st_size > limit:
            raise QsimError(f"program file {path!r} has {st.st_size} bytes, more than the limit of {limit}")
        chunks, total = [], 0
        while True:  # the size may change while we read: never read more than limit + 1 bytes
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise QsimError(f"program file {path!r} has more than the limit of {limit} bytes")
    except OSError as e:
        raise QsimError(f"cannot read program file {path!r}: {e.strerror}") from None
    finally:
        os.close(fd)
    return decode_program(b"".join(chunks), path)


def decode_program(data: bytes, name: str = "<program>") -> str:
    """UTF-8 text of ``data`` (a leading byte-order mark dropped), or a located ``ProgramError``."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        enc = "UTF-32" if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) else "UTF-16"
        raise ProgramError(f"{name} is {enc} text (it starts with a {enc} byte-order mark); OpenQASM "
                           f"programs are read as UTF-8: save it as UTF-8", 1, 1)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ProgramError(f"{name} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} "
                           f"cannot be decoded (a binary file, or another encoding such as latin-1?)",
                           line, column) from None
    if "\x00" in text:
        pos = text.index("\x00")
        line = text.count("\n", 0, pos) + 1
        raise ProgramError(f"{name} contains a NUL character (a binary file?)", line,
                           pos - (text.rfind("\n", 0, pos) + 1) + 1)
    return text
