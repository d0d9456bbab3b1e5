"""The base-image cache of one compute host: ``<instances_path>/_base/<image id>``.

Instance root disks are qcow2 overlays on these files, so each image is copied out of
the image store once per host, however many instances boot from it. Two compute agents
may share one instances path (two hosts on one machine, or a shared mount), so a fetch
holds an inter-process lock per image and publishes the file with an atomic rename:
nobody ever sees, or builds an overlay on, half a base file.

Layout of ``_base``::

    <image id>                  a verified copy of the image file (mode 0644)
    .<image id>.<random>.part   a copy in progress (or left behind by a crash)
    .locks/novalite-image-<id>  the lock file of each image (never deleted: unlinking a
                                lock file someone waits on would let two holders in)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from oslo_concurrency import lockutils

from novalite import exception
from novalite.image import api as image_api

LOG = logging.getLogger(__name__)

BASE_DIR_NAME = "_base"
LOCK_DIR_NAME = ".locks"
LOCK_PREFIX = "novalite-image-"
PART_SUFFIX = ".part"
FILE_MODE = 0o644
_CHUNK = 64 * 1024  # also the granularity of holes in the copy
_ZEROS = bytes(_CHUNK)
# Image ids become file names: no separators, no leading dot (kept for our own files).
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


def _image_id(image: dict[str, Any]) -> str:
    """The image's id, refused when it could not be used safely as a file name."""
    image_id = str(image.get("id") or "")
    if not _ID_PATTERN.fullmatch(image_id):
        raise exception.ImageUnacceptable(
            image_id=image_id or "<none>",
            reason="its id cannot name a file in the image cache")
    return image_id


def _expected_digest(image: dict[str, Any], image_id: str) -> tuple[Any, str] | None:
    """(a fresh hasher, the expected hex digest): os_hash first, else the md5 checksum."""
    algo, value = image.get("os_hash_algo"), image.get("os_hash_value")
    if algo and value:
        try:
            hasher = hashlib.new(str(algo))
        except ValueError as err:
            raise exception.ImageUnacceptable(
                image_id=image_id, reason=f"unsupported os_hash_algo {algo!r}") from err
        return hasher, str(value).lower()
    if image.get("checksum"):
        return hashlib.md5(usedforsecurity=False), str(image["checksum"]).lower()
    return None


def _copy_file(source: BinaryIO, target: BinaryIO, hasher: Any | None) -> int:
    """Copy source to target, hashing what is read; runs of zeros become holes, so
    a sparse raw image stays sparse in the cache. Returns the bytes copied."""
    size = 0
    while chunk := source.read(_CHUNK):
        if hasher is not None:
            hasher.update(chunk)
        if chunk == _ZEROS[:len(chunk)]:
            target.seek(len(chunk), os.SEEK_CUR)
        else:
            target.write(chunk)
        size += len(chunk)
    target.truncate(size)  # a trailing hole still needs the file to reach its size
    return size


class ImageCache:
    """Base images of one host under <instances_path>/_base, fetched once per host."""

    def __init__(self, instances_path: str | os.PathLike[str]) -> None:
        self.base_dir = Path(os.path.expanduser(os.fspath(instances_path))) / BASE_DIR_NAME
        self.lock_dir = self.base_dir / LOCK_DIR_NAME

    def path_of(self, image: dict[str, Any]) -> Path:
        """Where this image's base file lives (whether or not it is cached yet)."""
        return self.base_dir / _image_id(image)

    @contextlib.contextmanager
    def _lock(self, image_id: str, blocking: bool = True) -> Iterator[None]:
        """Serialise work on one base file across threads and processes. Non-blocking:
        lockutils.AcquireLockFailedException when someone else holds it."""
        with lockutils.lock(LOCK_PREFIX + image_id, external=True,
                            lock_path=str(self.lock_dir), do_log=False, blocking=blocking):
            yield

    def fetch(self, image: dict[str, Any]) -> Path:
        """The cached base file of `image`, copied from the image store if missing.

        A cached file is trusted (only its size is checked against image['size'], a
        full hash of a multi-GiB file on every boot would be too slow); a fresh copy is
        verified against os_hash_value, else the md5 checksum. Reusing a file touches
        it, so remove_unused() does not delete a base an instance is about to use.
        """
        image_id = _image_id(image)
        target = self.base_dir / image_id
        try:
            self.lock_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise exception.VirtDriverError(
                reason=f"cannot create the image cache {self.lock_dir}: {err}") from err
        with self._lock(image_id):
            if self._reusable(image, target):
                with contextlib.suppress(OSError):  # e.g. owned by another user now
                    os.utime(target)
                return target
            self._copy_in(image, image_id, target)
        return target

    @staticmethod
    def _reusable(image: dict[str, Any], target: Path) -> bool:
        try:
            stat = target.stat()
        except FileNotFoundError:
            return False
        expected = image.get("size")
        if expected is not None and stat.st_size != int(expected):
            LOG.warning("Cached base %s is %d bytes, image %s is %s: fetching it again",
                        target, stat.st_size, image.get("id"), expected)
            return False
        return True

    def _copy_in(self, image: dict[str, Any], image_id: str, target: Path) -> None:
        """Copy the image file to a temporary name, verify it, rename it into place."""
        source = image_api.file_path(image)
        if not source.is_file():
            raise exception.VirtDriverError(
                reason=f"the file of image {image_id}, {source}, does not exist on this host")
        expected = _expected_digest(image, image_id)
        hasher = expected[0] if expected else None
        started = time.monotonic()
        fd, tmp = tempfile.mkstemp(prefix=f".{image_id}.", suffix=PART_SUFFIX,
                                   dir=self.base_dir)
        try:
            try:
                with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                    size = _copy_file(src, out, hasher)
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as err:
                raise exception.VirtDriverError(
                    reason=f"cannot copy image {image_id} from {source} to "
                    f"{self.base_dir}: {err}") from err
            if image.get("size") is not None and size != int(image["size"]):
                raise exception.ImageUnacceptable(
                    image_id=image_id,
                    reason=f"{source} is {size} bytes, the image record says {image['size']}")
            if expected is not None and expected[0].hexdigest() != expected[1]:
                raise exception.ImageUnacceptable(
                    image_id=image_id,
                    reason=f"{source} does not match its {expected[0].name} checksum")
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        LOG.info("Cached image %s (%d bytes) in %s in %.1fs", image_id, size, target,
                 time.monotonic() - started)

    def remove_unused(self, in_use: set[str], older_than: float) -> list[str]:
        """Delete base files no instance uses and nobody touched for `older_than` seconds.

        Meant for the host's periodic image-cache task. `older_than` must exceed the
        time between a fetch and its instance appearing in `in_use`. A base being
        fetched right now (its lock is held) is skipped; copies left behind by a crashed
        fetch are deleted too. Returns the ids whose base files were removed.
        """
        try:
            entries = list(os.scandir(self.base_dir))
        except FileNotFoundError:
            return []
        removed: list[str] = []
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            is_part = entry.name.startswith(".") and entry.name.endswith(PART_SUFFIX)
            image_id = (entry.name[1:-len(PART_SUFFIX)].rsplit(".", 1)[0] if is_part
                        else entry.name)
            if not _ID_PATTERN.fullmatch(image_id) or (not is_part and image_id in in_use):
                continue
            if self._remove_if_old(Path(entry.path), image_id, older_than):
                if is_part:
                    LOG.info("Removed %s, an unfinished copy of image %s", entry.path,
                             image_id)
                else:
                    LOG.info("Removed unused base image %s", entry.path)
                    removed.append(image_id)
        return sorted(removed)

    def _remove_if_old(self, path: Path, image_id: str, older_than: float) -> bool:
        """Unlink path under its image's lock if still older than older_than seconds."""
        try:
            with self._lock(image_id, blocking=False):
                if time.time() - path.lstat().st_mtime < older_than:
                    return False
                path.unlink()
                return True
        except lockutils.AcquireLockFailedException:
            LOG.debug("Image %s is being fetched: not removing %s", image_id, path)
        except FileNotFoundError:
            pass
        except OSError as err:
            LOG.warning("Cannot remove %s: %s", path, err)
        return False
