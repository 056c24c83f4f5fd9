"""Files on disk: uploads streamed to a temporary name, hashed, fsynced, renamed into place.

Layout of the data directory (settings.files_path, beside the database by default):
`attachments/<attachment id>` and `attachments/<attachment id>.thumb.webp`,
`avatars/<user id>-<avatar key>.webp`, and `tmp/` for uploads in progress (emptied at start).
Names are always the server's own; a client's file name is only ever metadata.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TypeVar

import filetype

from campfire import errors
from campfire.config import Settings
from campfire.errors import CampfireError

log = logging.getLogger(__name__)

T = TypeVar("T")

SNIFF_BYTES = 8192  # what filetype needs to recognise every type it knows
# An upload is written (one thread hop) per this many bytes received, and flushed to disk per
# SYNC_BYTES written: many small writebacks instead of one of the whole file at the end, which
# queued the database's commits (their fsync) behind it (docs/performance.md, uploads).
WRITE_BYTES = 256 * 1024
SYNC_BYTES = 1024 * 1024
FLUSHING = threading.Lock()  # one upload's flush at a time: the disk's queue stays short
# A full disk, a quota, or a file-size limit (RLIMIT_FSIZE): the same answer to the uploader.
# This host in temporary file names: "h" and a hash of its name (fixed length, no "-",
# never all digits as the `<pid>-...` names of earlier versions are).
HOST = "h" + hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12]
# Another host's upload whose file has not changed for this long is abandoned: an upload
# under way writes at least every request_body_timeout (30 s), and a thumbnail takes seconds.
FOREIGN_UPLOAD_IDLE = 600.0
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def storage_full() -> CampfireError:
    """507: the server has no room for the file; nothing of it was kept."""
    return CampfireError(
        errors.STORAGE_FULL, "The server has no room to store this file; nothing was kept", 507
    )


def too_large(limit: int) -> CampfireError:
    """413 for an upload over its limit."""
    return CampfireError(
        errors.PAYLOAD_TOO_LARGE, f"The file is larger than the limit of {limit:,} bytes", 413
    )


def sniff(head: bytes) -> str:
    """The type the first bytes show (filetype's signatures); unknown: octet-stream."""
    kind = filetype.guess(head)
    return kind.mime if kind is not None else "application/octet-stream"


class Upload:
    """A file received under tmp/: its size, sha256 and sniffed type, until kept or discarded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.head = b""
        self._hash = hashlib.sha256()
        self._file: BinaryIO | None = None
        self._unsynced = 0  # bytes written since the last fdatasync

    @property
    def sha256(self) -> str:
        """Hex digest of everything written."""
        return self._hash.hexdigest()

    @property
    def content_type(self) -> str:
        """The type decided from the bytes, never from the client's claim."""
        return sniff(self.head)

    def _open(self) -> None:
        self._file = open(self.path, "xb")  # closed by _finish or _abandon

    def _write(self, data: bytes) -> None:
        """Append and hash (in a worker thread: both release the GIL); every SYNC_BYTES,
        flush what is written to the disk."""
        assert self._file is not None
        self._file.write(data)
        self._hash.update(data)
        self._unsynced += len(data)
        if self._unsynced >= SYNC_BYTES:
            self._file.flush()
            with FLUSHING:
                os.fdatasync(self._file.fileno())
            self._unsynced = 0

    def _finish(self) -> None:
        """Flush and fsync: once renamed, the file is on disk, not only in the page cache."""
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None

    def _abandon(self) -> None:
        """Close and remove the partial file."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        self.path.unlink(missing_ok=True)


class FileStore:
    """The data directory and the bounded thread pools that write files and decode images."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.files_path
        self.tmp = self.root / "tmp"
        self.attachments = self.root / "attachments"
        self.avatars = self.root / "avatars"
        self.max_image_pixels = settings.max_image_pixels
        self.io = ThreadPoolExecutor(
            settings.file_workers, thread_name_prefix="files", initializer=background_thread
        )
        self.images = ThreadPoolExecutor(
            settings.image_workers, thread_name_prefix="images", initializer=background_thread
        )

    def open(self) -> None:
        """Create the directories; remove what an earlier process left half-written in tmp/."""
        for folder in (self.tmp, self.attachments, self.avatars):
            folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp.iterdir():
            if _writer_alive(leftover):
                continue  # another worker's or host's upload under way
            log.info("removing a partial upload left by an earlier run: %s", leftover.name)
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the worker threads (waiting for work under way)."""
        self.io.shutdown(wait=True)
        self.images.shutdown(wait=True)

    async def run_io(self, func: Callable[..., T], *args: object) -> T:
        """Run blocking file work in the file threads."""
        return await asyncio.get_running_loop().run_in_executor(self.io, func, *args)

    async def run_image(self, func: Callable[..., T], *args: object) -> T:
        """Run image decoding in the (fewer) image threads."""
        return await asyncio.get_running_loop().run_in_executor(self.images, func, *args)

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh name under tmp/: `<host>-<pid>-<random>`, so a process starting beside
        others (workers, or hosts sharing files_dir) clears only what the dead left."""
        return self.tmp / f"{HOST}-{os.getpid()}-{uuid.uuid4().hex}{suffix}"

    async def receive(self, chunks: AsyncIterator[bytes], limit: int) -> Upload:
        """Stream chunks to a temporary file, hashing them, never more than `limit` bytes.

        On any failure (too large, disk full, the client gone) the partial file is removed
        before the error goes on; a full disk becomes STORAGE_FULL.
        """
        upload = Upload(self.temp_path())
        try:
            await self.run_io(upload._open)
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                upload.size += len(chunk)
                if upload.size > limit:
                    raise too_large(limit)
                if len(upload.head) < SNIFF_BYTES:
                    upload.head += chunk[: SNIFF_BYTES - len(upload.head)]
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BYTES:
                    await self.run_io(upload._write, b"".join(pending))
                    pending, pending_size = [], 0
            if pending:
                await self.run_io(upload._write, b"".join(pending))
            await self.run_io(upload._finish)
        except BaseException as exc:
            await asyncio.shield(self.run_io(upload._abandon))
            if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
                log.warning("upload refused: %s", exc.strerror)
                raise storage_full() from None
            raise
        return upload

    async def keep(self, source: Path, target: Path) -> None:
        """Rename a finished temporary file into place and make the rename durable."""
        await self.run_io(_durable_rename, source, target)

    async def discard(self, *paths: Path) -> None:
        """Remove files (missing ones are fine)."""
        await self.run_io(_unlink_all, paths)

    async def write_new(self, target: Path, make: Callable[[Path], T]) -> T:
        """Let `make` write a file under tmp/ (in the image threads), then rename it to `target`.

        `make` gets the temporary path; whatever it returns is returned. Nothing half-written
        is left on any failure; a full disk becomes STORAGE_FULL.
        """
        tmp = self.temp_path(target.suffix)
        try:
            result = await self.run_image(make, tmp)
            await self.keep(tmp, target)
        except BaseException as exc:
            await asyncio.shield(self.discard(tmp))
            if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
                raise storage_full() from None
            raise
        return result


def background_thread() -> None:
    """Make the calling thread (a file or image thread) yield its core to the event loop.

    Under SCHED_IDLE the kernel runs a thread only when nothing else wants the core, and
    preempts it the moment the loop wakes; its disk writes get the idle I/O class too. On a
    one-core server, 20 uploads' writing and hashing at normal priority kept the loop waiting
    for the core: the chat's p99 beside them went 4-5x (docs/performance.md, uploads). On
    several cores the threads simply run on another. Where the policy does not exist (not
    Linux), the threads stay as they are.
    """
    if hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError as exc:  # a sandbox that forbids it: slower chat beside uploads, no more
            log.debug("file threads keep their priority: %s", exc)


def fsync_file(path: Path) -> None:
    """fsync a file written by someone else (Pillow)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _durable_rename(source: Path, target: Path) -> None:
    """os.replace, then fsync the directory so the new name survives a power cut."""
    os.replace(source, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_all(paths: tuple[Path, ...]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def backup_files(backup_db: Path, source_dir: Path, target_dir: Path) -> tuple[int, list[str]]:
    """Copy the files a backed-up database refers to from `source_dir` into `target_dir`.

    Reads the list from the backup itself, so the copy holds exactly the files of the rows it
    holds. Files never change under their names, so copying them after the database is
    consistent; one deleted in between is reported (its message was deleted meanwhile).
    The directory appears whole: it is filled under a temporary name, then renamed.
    Returns (files copied, names missing).
    """
    conn = sqlite3.connect(f"{backup_db.absolute().as_uri()}?mode=ro", uri=True)
    try:
        names = _files_of(conn)
    finally:
        conn.close()
    partial = target_dir.with_name(target_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    copied, missing = 0, []
    try:
        for folder in ("attachments", "avatars"):
            (partial / folder).mkdir(parents=True)
        for name in names:
            try:
                shutil.copyfile(source_dir / name, partial / name)
                fsync_file(partial / name)
                copied += 1
            except FileNotFoundError:
                missing.append(name)
        shutil.rmtree(target_dir, ignore_errors=True)
        os.replace(partial, target_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return copied, missing


def _files_of(conn: sqlite3.Connection) -> list[str]:
    """The data directory's files that a database's rows refer to (none before migration 4)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < 4:
        return []
    names = []
    for attachment_id, has_thumbnail in conn.execute(
        "SELECT a.id, a.has_thumbnail FROM attachments a JOIN messages m ON m.id = a.message_id"
    ):
        names.append(f"attachments/{attachment_id}")
        if has_thumbnail:
            names.append(f"attachments/{attachment_id}.thumb.webp")
    for user_id, key in conn.execute(
        "SELECT id, avatar_key FROM users WHERE avatar_key IS NOT NULL"
    ):
        names.append(f"avatars/{user_id}-{key}.webp")
    return names


def _writer_alive(path: Path) -> bool:
    """Whether the process that named this temporary file may still be writing it: on this
    host, while its process runs; on another host sharing files_dir (whose processes cannot
    be asked), while the file changed within FOREIGN_UPLOAD_IDLE."""
    first, _, rest = path.name.partition("-")
    if first.isdigit():
        pid = first  # `<pid>-...`: named by an earlier version, on this host
    elif len(first) == len(HOST) and first.startswith("h") and first != HOST:
        try:
            return time.time() - path.stat().st_mtime < FOREIGN_UPLOAD_IDLE
        except FileNotFoundError:
            return True  # finished meanwhile
    else:
        pid = rest.partition("-")[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, as another user
    return True
