"""The local image store: ``[image] local_dir`` (unset: ``$state_path/images``).

The directory holds image files (qcow2 or raw) and ``images.json``, their index: a JSON
list of records such as::

    {"id": "<uuid>", "name": "cirros", "file": "cirros.qcow2", "disk_format": "qcow2",
     "container_format": "bare", "min_disk": 0, "min_ram": 0, "size": 21430272,
     "virtual_size": 117440512, "checksum": "<md5>", "os_hash_algo": "sha512",
     "os_hash_value": "<hex>", "owner": null, "properties": {"hw_disk_bus": "virtio"},
     "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}

``file`` is relative to the directory (or absolute). Operators may write the index by
hand with only id, name and file: missing fields get defaults when read. ``add()``
registers a file and fills every field; it rewrites the index atomically (temporary
file + rename, under a lock file) so concurrent readers never see half an index and
concurrent writers in other processes do not lose each other's entries.

Images returned by :func:`get` / :func:`get_all` are plain dicts (copies): every field
above with its default, plus the Glance fields that are constant here (status
"active", visibility "public", protected false, os_hidden false, tags []).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import uuid as uuid_lib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from novalite import exception
from novalite.conf import CONF

LOG = logging.getLogger(__name__)

INDEX_NAME = "images.json"
LOCK_NAME = ".images.json.lock"
DISK_FORMATS = ("qcow2", "raw")
CONTAINER_FORMATS = ("bare",)
HASH_ALGORITHMS = ("sha256", "sha512")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
QCOW2_MAGIC = b"QFI\xfb"
_CHUNK = 1024 * 1024

_THREAD_LOCK = threading.Lock()

# Constant Glance fields: everything in this store is an active public image.
_CONSTANT_FIELDS = {"status": "active", "visibility": "public", "protected": False,
                    "os_hidden": False, "tags": []}


def image_dir() -> Path:
    """Where images and their index live: [image] local_dir, else $state_path/images."""
    configured = CONF.image.local_dir
    if configured:
        return Path(os.path.expanduser(configured))
    return Path(os.path.expanduser(CONF.state_path)) / "images"


def index_path() -> Path:
    return image_dir() / INDEX_NAME


def _format_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime(TIME_FORMAT)


def _now() -> str:
    return _format_time(datetime.datetime.now(datetime.UTC))


def _read_index() -> list[dict[str, Any]]:
    """The raw index entries; [] when there is no index yet."""
    path = index_path()
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise exception.ConfigError(reason=f"cannot read image index {path}: {err}") from err
    if not isinstance(raw, list):
        raise exception.ConfigError(reason=f"image index {path} is not a JSON list")
    return raw


def _write_index(entries: list[dict[str, Any]]) -> None:
    """Replace the index atomically: readers see the old or the new file, never a mix."""
    directory = image_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".images.", suffix=".json.tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, directory / INDEX_NAME)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def _index_lock() -> Iterator[None]:
    """Serialise read-modify-write of the index across threads and processes."""
    directory = image_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK, open(directory / LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def file_path(image: dict[str, Any]) -> Path:
    """The absolute path of an image's file, resolved against this process's
    local_dir (compute hosts resolve it against their own)."""
    path = Path(os.path.expanduser(str(image.get("file") or "")))
    return path if path.is_absolute() else image_dir() / path


def _int_or(value: Any, default: int | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _normalise(entry: dict[str, Any], index_mtime: str) -> dict[str, Any]:
    """A complete image dict from an index entry (hand-written entries may be sparse)."""
    image: dict[str, Any] = {
        "id": str(entry["id"]),
        "name": entry.get("name"),
        "file": entry.get("file"),
        "disk_format": entry.get("disk_format") or "raw",
        "container_format": entry.get("container_format") or "bare",
        "min_disk": _int_or(entry.get("min_disk"), 0),
        "min_ram": _int_or(entry.get("min_ram"), 0),
        "size": _int_or(entry.get("size"), None),
        "virtual_size": _int_or(entry.get("virtual_size"), None),
        "checksum": entry.get("checksum"),
        "os_hash_algo": entry.get("os_hash_algo"),
        "os_hash_value": entry.get("os_hash_value"),
        "owner": entry.get("owner"),
        "properties": dict(entry.get("properties") or {}),
        "created_at": entry.get("created_at") or index_mtime,
        "updated_at": entry.get("updated_at") or entry.get("created_at") or index_mtime,
    }
    if image["size"] is None and image["file"]:
        with contextlib.suppress(OSError):
            image["size"] = file_path(image).stat().st_size
    image.update({key: (list(value) if isinstance(value, list) else value)
                  for key, value in _CONSTANT_FIELDS.items()})
    return image


def _load() -> list[dict[str, Any]]:
    """Every image in index order; entries without an id, and repeated ids, skipped."""
    entries = _read_index()
    try:
        mtime = _format_time(datetime.datetime.fromtimestamp(
            index_path().stat().st_mtime, datetime.UTC))
    except OSError:
        mtime = _now()
    images: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("id"):
            LOG.warning("Ignoring an image index entry without an id: %r", entry)
            continue
        if str(entry["id"]) in seen:
            LOG.warning("Ignoring a repeated image id %s in the image index", entry["id"])
            continue
        seen.add(str(entry["id"]))
        images.append(_normalise(entry, mtime))
    return images


def _id_from_ref(image_ref: str) -> str:
    """An image id from an imageRef, which clients may also send as a URL."""
    ref = str(image_ref).strip()
    return ref.rstrip("/").rsplit("/", 1)[-1] if "/" in ref else ref


def get(ctx: Any, image_ref: str) -> dict[str, Any]:
    """The image with this id (or an image URL ending in it); ImageNotFound otherwise.

    Every image is public, so the context only documents who asks.
    """
    image_id = _id_from_ref(image_ref)
    for image in _load():
        if image["id"] == image_id:
            return image
    raise exception.ImageNotFound(image_id=image_ref)


def get_all(ctx: Any, name: str | None = None) -> list[dict[str, Any]]:
    """Every image in index order, or only those named `name` (names may repeat)."""
    images = _load()
    if name is not None:
        images = [image for image in images if image["name"] == name]
    return images


def _sniff(path: Path) -> tuple[bool, int | None]:
    """(is qcow2, virtual size in bytes from the qcow2 header or None)."""
    with open(path, "rb") as handle:
        header = handle.read(32)
    if header[:4] != QCOW2_MAGIC:
        return False, None
    if len(header) < 32:
        return True, None
    return True, int.from_bytes(header[24:32], "big")


def _digests(path: Path, hash_algo: str) -> tuple[str, str]:
    """(md5 hex, `hash_algo` hex) of a file, in one pass."""
    md5 = hashlib.md5(usedforsecurity=False)
    other = hashlib.new(hash_algo)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            md5.update(chunk)
            other.update(chunk)
    return md5.hexdigest(), other.hexdigest()


def _index_file_name(path: Path) -> str:
    """The `file` field: relative when the file lies in the store directory."""
    try:
        return str(path.resolve().relative_to(image_dir().resolve()))
    except ValueError:
        return str(path.resolve())


def _check_add_arguments(path: Path, name: str, disk_format: str | None,
                         container_format: str, min_disk: int, min_ram: int,
                         hash_algo: str) -> None:
    if not path.is_file():
        raise exception.Invalid(reason=f"image file {path} does not exist or is not a file")
    if not isinstance(name, str) or not name.strip():
        raise exception.Invalid(reason="an image needs a non-empty name")
    if disk_format is not None and disk_format not in DISK_FORMATS:
        raise exception.Invalid(reason=f"disk_format must be one of {DISK_FORMATS}")
    if container_format not in CONTAINER_FORMATS:
        raise exception.Invalid(reason=f"container_format must be one of {CONTAINER_FORMATS}")
    for field, value in (("min_disk", min_disk), ("min_ram", min_ram)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise exception.Invalid(reason=f"{field} must be a non-negative integer")
    if hash_algo not in HASH_ALGORITHMS:
        raise exception.Invalid(reason=f"hash_algo must be one of {HASH_ALGORITHMS}")


def add(path: str | os.PathLike[str], name: str, disk_format: str | None = None,
        container_format: str = "bare", min_disk: int = 0, min_ram: int = 0,
        properties: dict[str, Any] | None = None, image_id: str | None = None,
        owner: str | None = None, copy: bool = False,
        hash_algo: str = "sha512") -> dict[str, Any]:
    """Register an image file in the index and return the new image.

    disk_format None means "detect" (qcow2 by its magic number, else raw). A declared
    format must match the file's: a raw image whose content looks like qcow2, or the
    reverse, is refused, because booting a guest-writable disk under the wrong format
    lets the guest name host files as its backing file. copy=True copies the file into
    the store directory as ``<id>.<format>``; otherwise the index points at it where it
    is. Size, md5 checksum and os_hash (sha512 by default, as Glance) are computed here.
    """
    source = Path(os.path.expanduser(os.fspath(path)))
    _check_add_arguments(source, name, disk_format, container_format, min_disk, min_ram,
                         hash_algo)
    is_qcow2, virtual_size = _sniff(source)
    detected = "qcow2" if is_qcow2 else "raw"
    if disk_format is not None and disk_format != detected:
        raise exception.Invalid(
            reason=f"{source} is a {detected} file, not {disk_format}")
    new_id = str(image_id) if image_id else str(uuid_lib.uuid4())
    size = source.stat().st_size
    checksum, hash_value = _digests(source, hash_algo)
    with _index_lock():
        entries = _read_index()
        if any(isinstance(e, dict) and str(e.get("id")) == new_id for e in entries):
            raise exception.Invalid(reason=f"an image with id {new_id} already exists")
        target = source
        if copy:
            target = image_dir() / f"{new_id}.{detected}"
            shutil.copyfile(source, target)
        now = _now()
        entry = {
            "id": new_id, "name": name, "file": _index_file_name(target),
            "disk_format": detected, "container_format": container_format,
            "min_disk": min_disk, "min_ram": min_ram, "size": size,
            "virtual_size": virtual_size if is_qcow2 else size,
            "checksum": checksum, "os_hash_algo": hash_algo, "os_hash_value": hash_value,
            "owner": owner, "properties": dict(properties or {}),
            "created_at": now, "updated_at": now,
        }
        entries.append(entry)
        _write_index(entries)
    LOG.info("Registered image %s (%s, %s, %d bytes)", new_id, name, detected, size)
    return get(None, new_id)


def remove(image_id: str) -> None:
    """Drop an image from the index (its file stays); ImageNotFound if it is not there."""
    with _index_lock():
        entries = _read_index()
        kept = [e for e in entries if not (isinstance(e, dict)
                                           and str(e.get("id")) == str(image_id))]
        if len(kept) == len(entries):
            raise exception.ImageNotFound(image_id=image_id)
        _write_index(kept)
