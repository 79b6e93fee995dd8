"""Moving files in and out of a job directory: code, input channels, checkpoints, results.

Who calls this: ``jobs.lifecycle.driver`` (code, at create time, so the job runs the code as it
was when created, as Braket's upload does; inputs and checkpoints when a job is staged; checkpoints
and ``model.tar.gz`` when it finishes), ``jobs.lifecycle.supervisor`` (the space reserve) and
``atomic_write_bytes``/``atomic_text`` for anyone. Locations are already validated local paths.

Archives are extracted by ``safe_extract`` alone (one home for it): plain files and directories
only, every path resolved against the real destination before it is written; absolute names,
``..``, any link (symbolic or hard) and special files are refused with ``ValidationException``
naming the member and the field. Sizes are charged to the job's ``limits.Volume`` first.
Everything written to a user's location goes through a temporary name and a rename.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from lzma import LZMAError
from zlib import error as ZlibError

from jobs.errors import ValidationException
from jobs.lifecycle.limits import Volume, tree_size


@contextlib.contextmanager
def _replacing(path: Path, suffix: str = ".tmp"):
    """Yield an open binary file beside ``path``; on success it is flushed, fsynced and renamed over
    ``path`` (then the directory is fsynced), so readers see the old or the new content, never a
    torn one; on failure the temporary file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


RESERVE_BYTES = 1 << 20


def hold_reserve(paths) -> None:
    """Hold 1 MiB in the job directory (``paths.reserve``) while the job runs, freed before the
    final status is written, so a job that fills the disk can still record what happened."""
    try:
        fd = os.open(paths.reserve, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * RESERVE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        release_reserve(paths)


def release_reserve(paths) -> None:
    try:
        os.unlink(paths.reserve)
    except OSError:
        pass


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``_replacing``)."""
    with _replacing(path) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_text(path: Path):
    """A text file (UTF-8) that replaces ``path`` atomically when the block ends without error: for
    writers that stream (``qsim.state.results.dump``) instead of building the whole content."""
    with _replacing(path) as f:
        text = io.TextIOWrapper(f, encoding="utf-8")
        yield text
        text.flush()
        text.detach()


def _atomic_copy_file(src: Path, dst: Path) -> None:
    with _replacing(dst) as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out, 1 << 20)
        os.fchmod(out.fileno(), stat.S_IMODE(os.fstat(inp.fileno()).st_mode))


def copy_tree_contents(src: Path, dst: Path) -> None:
    """Copy the files under ``src`` into ``dst`` (overwriting, each file replaced atomically)."""
    for dirpath, _dirs, files in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        for name in files:
            _atomic_copy_file(Path(dirpath) / name, dst / rel / name)


# --- code -------------------------------------------------------------------------------------------


def _refuse(field: str, member: str, why: str) -> None:
    raise ValidationException(f"{field}: archive member {member!r} {why}")


def check_tar_members(tar: tarfile.TarFile, field: str) -> list[tarfile.TarInfo]:
    """The archive's members, after refusing any that is not a plain file or directory inside the target.

    Links are refused altogether (symbolic and hard): a chain of links can resolve outside the
    target whatever a lexical check of each one says (CVE-2025-4517), so no link is ever created.
    """
    members = tar.getmembers()
    for m in members:
        name = PurePosixPath(m.name)
        if (name.is_absolute() or m.name.startswith(("/", "\\")) or ".." in name.parts or "\x00" in m.name
                or not m.name.strip("/.")):
            _refuse(field, m.name, "would be extracted outside the job directory (absolute name, '..' or empty)")
        if m.issym():
            _refuse(field, m.name, f"is a symbolic link (to {m.linkname!r}); links are not extracted: archive the "
                                   "files themselves (tar --dereference)")
        if m.islnk():
            _refuse(field, m.name, f"is a hard link (to {m.linkname!r}); links are not extracted: archive the "
                                   "files themselves (tar --hard-dereference)")
        if not (m.isfile() or m.isdir()):
            _refuse(field, m.name, "is a special file (device, fifo or other); only files and directories are "
                                   "extracted")
    return members


def _inside(root_real: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real + os.sep)


def safe_extract(src: Path, dest: Path, field: str, volume: Volume | None = None) -> None:
    """Extract a tar archive into ``dest`` (which must be empty) with no tarfile extraction filter
    involved: only plain files and directories, each path resolved against the real ``dest``
    before it is written, files opened with O_NOFOLLOW | O_EXCL. ``volume`` is charged with the
    declared size of every file before anything is written."""
    dest.mkdir(parents=True, exist_ok=True)
    root_real = os.path.realpath(dest)
    try:
        with tarfile.open(src, "r:*") as tar:
            members = check_tar_members(tar, field)
            if volume is not None:
                volume.charge(sum(m.size for m in members if m.isfile()), f"the unpacked archive {src.name} ({field})")
            for m in members:
                rel = PurePosixPath(m.name.strip("/"))
                target = os.path.join(root_real, *[p for p in rel.parts if p not in ("", ".")])
                if not _inside(root_real, os.path.dirname(target)) or not _inside(root_real, target):
                    _refuse(field, m.name, "resolves outside the job directory")
                if m.isdir():
                    os.makedirs(target, mode=0o700, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
                if not _inside(root_real, os.path.dirname(target)):  # re-check after creating parents
                    _refuse(field, m.name, "resolves outside the job directory")
                if os.path.lexists(target):
                    if os.path.isdir(target) and not os.path.islink(target):
                        _refuse(field, m.name, "is a file where the archive already has a directory")
                    os.unlink(target)  # a later member of the same name replaces the earlier one
                mode = 0o700 if m.mode & 0o111 else 0o600
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
                with os.fdopen(fd, "wb") as out:
                    data = tar.extractfile(m)
                    remaining = m.size
                    while remaining > 0:
                        chunk = data.read(min(remaining, 1 << 20))
                        if not chunk:
                            break
                        out.write(chunk)
                        remaining -= len(chunk)
    except ValidationException:
        raise
    except (tarfile.TarError, EOFError, ZlibError, LZMAError) as e:
        raise ValidationException(f"{field}: cannot extract {str(src)!r}: {e}") from None
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise
        raise ValidationException(f"{field}: cannot extract {str(src)!r}: {e}") from None


def _copy_file(src, dst, field: str = "algorithmSpecification.scriptModeConfig.s3Uri"):
    """copy2 for regular files only: a fifo would block staging forever, a device never end."""
    if not stat.S_ISREG(os.stat(src).st_mode):
        raise ValidationException(f"{field}: {str(src)!r} is a special file (fifo, socket or device); only "
                                  "files and directories are staged")
    return shutil.copy2(src, dst)


def _copy_tree(src: Path, dst: Path, symlinks: bool, field: str = "algorithmSpecification.scriptModeConfig.s3Uri"):
    try:
        shutil.copytree(src, dst, symlinks=symlinks, dirs_exist_ok=True,
                        copy_function=lambda s, d: _copy_file(s, d, field))
    except shutil.Error as e:  # copytree gathers errors as text; a full disk must stay a full disk
        text = "; ".join(str(x[-1]) for x in e.args[0]) if e.args and isinstance(e.args[0], list) else str(e)
        if f"[Errno {errno.ENOSPC}]" in text:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst)) from None
        raise ValidationException(f"{field}: cannot copy {str(src)!r}: {text[:500]}") from None


def stage_code(src: Path, kind: str, original: Path, extracted: Path, field: str,
               volume: Volume | None = None) -> list[Path]:
    """Copy the code to ``original`` and unpack it to ``extracted``; return the sys.path entries.
    ``volume`` (the job's volumeSizeInGb budget) is charged before anything is written."""
    original.mkdir(parents=True, exist_ok=True, mode=0o700)
    extracted.mkdir(parents=True, exist_ok=True, mode=0o700)
    size = tree_size(src) if kind == "dir" else os.stat(src).st_size
    if volume is not None:
        volume.charge(size * (1 if kind == "tar" else 2), f"the code {str(src)!r} ({field}, copied and unpacked)")
    if kind == "tar":
        _copy_file(src, original / src.name, field)
        safe_extract(src, extracted, field, volume)
        return [extracted]
    if kind == "file":
        _copy_file(src, original / src.name, field)
        _copy_file(src, extracted / src.name, field)
        return [extracted]
    _copy_tree(src, original / src.name, True, field)
    _copy_tree(src, extracted / src.name, False, field)
    # Like the SDK's source_module, "dir.module" works; "module" does too.
    return [extracted, extracted / src.name]


# --- input channels ----------------------------------------------------------------------------------


def stage_channel(src_uri: str, src: Path, dst: Path, volume: Volume | None = None, what: str = "channel") -> None:
    """Stage one channel as Braket does: a directory's contents, a file, or every name with the prefix.
    ``volume`` is charged with the channel's size before anything is copied."""
    if dst.exists():
        raise ValueError(f"duplicate channel directory {dst}")
    if src.is_dir():
        sources = [(src, dst, True)]
    elif src.is_file() and not src_uri.endswith("/"):
        sources = [(src, dst / src.name, False)]
    else:
        matches = sorted(p for p in src.parent.iterdir() if p.name.startswith(src.name)) if src.parent.is_dir() else []
        if not matches:
            raise RuntimeError(f"No data found for channel at {src_uri}")
        sources = [(p, dst / p.name, p.is_dir()) for p in matches]
    if volume is not None:
        volume.charge(sum(tree_size(p) for p, _, _ in sources), f"{what} ({src_uri})")
    dst.mkdir(parents=True, mode=0o700)
    for p, target, is_dir in sources:
        if is_dir:
            _copy_tree(p, target, False, what)
        else:
            _copy_file(p, target, what)


# --- results ------------------------------------------------------------------------------------------


def pack_results(model_dir: Path, archive: Path) -> None:
    """Pack the results directory's contents to ``archive`` (model.tar.gz), replacing it atomically."""
    with _replacing(archive, suffix=".tar.gz.tmp") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
        for child in sorted(model_dir.iterdir()) if model_dir.is_dir() else []:
            tar.add(child, arcname=child.name)
