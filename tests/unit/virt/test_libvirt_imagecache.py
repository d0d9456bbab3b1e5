"""The libvirt driver's base-image cache: copy once, verify, lock, clean up."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
from oslo_concurrency import lockutils

from novalite import exception
from novalite.conf import CONF
from novalite.image import api as image_api
from novalite.virt.libvirt import imagecache

DATA = os.urandom(3 * 1024 * 1024 + 123)  # more than one copy chunk, not a multiple


@pytest.fixture
def store(tmp_path: Path):
    directory = tmp_path / "images"
    CONF.set_override("local_dir", str(directory), group="image")
    yield directory
    CONF.clear_override("local_dir", group="image")


@pytest.fixture
def image(store: Path, tmp_path: Path) -> dict:
    source = tmp_path / "disk.raw"
    source.write_bytes(DATA)
    return image_api.add(source, "img", image_id="11111111-2222-3333-4444-555555555555")


@pytest.fixture
def cache(tmp_path: Path) -> imagecache.ImageCache:
    return imagecache.ImageCache(tmp_path / "instances")


@pytest.fixture
def copies():
    """Counts real copies into the cache."""
    with mock.patch.object(imagecache, "_copy_file", wraps=imagecache._copy_file) as spy:
        yield spy


def base_files(cache: imagecache.ImageCache) -> list[str]:
    return sorted(p.name for p in cache.base_dir.iterdir() if p.name != ".locks")


def test_fetch_copies_once(cache, image, copies, tmp_path) -> None:
    assert cache.base_dir == tmp_path / "instances" / "_base"
    assert cache.path_of(image) == cache.base_dir / image["id"]
    path = cache.fetch(image)
    assert path == cache.path_of(image)
    assert path.read_bytes() == DATA
    assert path.stat().st_mode & 0o777 == 0o644
    inode = path.stat().st_ino
    assert cache.fetch(image) == path
    assert copies.call_count == 1 and path.stat().st_ino == inode
    assert base_files(cache) == [image["id"]]


def test_fetch_keeps_holes(cache, store, tmp_path) -> None:
    source = tmp_path / "sparse.raw"
    with open(source, "wb") as handle:
        handle.write(b"boot sector")
        handle.truncate(32 * 1024 * 1024)
    path = cache.fetch(image_api.add(source, "sparse"))
    assert path.stat().st_size == 32 * 1024 * 1024
    assert path.stat().st_blocks * 512 < 1024 * 1024
    assert hashlib.sha512(path.read_bytes()).hexdigest() == \
        hashlib.sha512(source.read_bytes()).hexdigest()


@pytest.mark.parametrize("fields", [
    {"os_hash_value": "0" * 128},
    {"os_hash_algo": None, "os_hash_value": None, "checksum": "0" * 32},
    {"os_hash_algo": "whirlpool-9000"},
    {"size": len(DATA) + 1},
])
def test_bad_copy_raises_and_leaves_nothing(cache, image, fields) -> None:
    with pytest.raises(exception.ImageUnacceptable) as caught:
        cache.fetch({**image, **fields})
    assert image["id"] in str(caught.value)
    assert base_files(cache) == []


def test_md5_checksum_used_without_os_hash(cache, image) -> None:
    path = cache.fetch({**image, "os_hash_algo": None, "os_hash_value": None})
    assert path.read_bytes() == DATA


def test_missing_source_file(cache, image, store) -> None:
    with pytest.raises(exception.VirtDriverError, match="does not exist on this host"):
        cache.fetch({**image, "file": "gone.raw"})
    assert base_files(cache) == []


@pytest.mark.parametrize("bad_id", ["", "../etc", "a/b", ".hidden", "-x"])
def test_unusable_image_id(cache, image, bad_id) -> None:
    with pytest.raises(exception.ImageUnacceptable):
        cache.fetch({**image, "id": bad_id})


def test_concurrent_fetches_copy_once(cache, image, copies) -> None:
    barrier = threading.Barrier(8)
    results: list = []

    def fetch() -> None:
        barrier.wait()
        results.append(cache.fetch(image))

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [cache.path_of(image)] * 8
    assert copies.call_count == 1
    assert cache.path_of(image).read_bytes() == DATA
    assert base_files(cache) == [image["id"]]


def test_fetch_waits_for_another_process(cache, image) -> None:
    """Another compute agent sharing the instances path holds the image's lock file."""
    cache.lock_dir.mkdir(parents=True)
    lock_file = cache.lock_dir / (imagecache.LOCK_PREFIX + image["id"])
    with subprocess.Popen(
            [sys.executable, "-c",
             "import fcntl, sys\n"
             f"f = open({str(lock_file)!r}, 'a')\n"
             "fcntl.lockf(f, fcntl.LOCK_EX)\n"
             "print('locked', flush=True)\n"
             "sys.stdin.read()\n"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout.readline().strip() == "locked"
        fetcher = threading.Thread(target=cache.fetch, args=(image,))
        fetcher.start()
        time.sleep(0.2)
        assert fetcher.is_alive() and not cache.path_of(image).exists()
        holder.stdin.close()  # the other agent lets go
    fetcher.join(5)
    assert cache.path_of(image).read_bytes() == DATA


def test_wrong_size_is_fetched_again(cache, image, copies) -> None:
    path = cache.fetch(image)
    path.write_bytes(b"truncated")
    assert cache.fetch(image).read_bytes() == DATA
    assert copies.call_count == 2
    # Without a known size the cached file is reused as it is.
    path.write_bytes(b"truncated")
    assert cache.fetch({**image, "size": None}).read_bytes() == b"truncated"
    assert copies.call_count == 2


def age(path: Path, seconds: float) -> None:
    moment = time.time() - seconds
    os.utime(path, (moment, moment))


def test_remove_unused(cache, store, tmp_path) -> None:
    assert cache.remove_unused(set(), 0) == []  # no _base yet
    images = {}
    for name in ("used", "old", "fresh"):
        source = tmp_path / f"{name}.raw"
        source.write_bytes(name.encode())
        images[name] = image_api.add(source, name, image_id=f"id-{name}")
        cache.fetch(images[name])
    age(cache.path_of(images["used"]), 3600)
    age(cache.path_of(images["old"]), 3600)
    stale_part = cache.base_dir / ".id-old.abc123.part"
    stale_part.write_bytes(b"half")
    age(stale_part, 3600)
    (cache.base_dir / "not an id").write_bytes(b"x")
    age(cache.base_dir / "not an id", 3600)

    assert cache.remove_unused({"id-used"}, older_than=600) == ["id-old"]
    assert base_files(cache) == ["id-fresh", "id-used", "not an id"]
    # A fetch touches the file it reuses: it is not removed right after.
    age(cache.path_of(images["fresh"]), 3600)
    cache.fetch(images["fresh"])
    assert cache.remove_unused({"id-used"}, older_than=600) == []
    assert cache.remove_unused(set(), older_than=0) == ["id-fresh", "id-used"]


def test_remove_unused_skips_an_image_being_fetched(cache, image) -> None:
    path = cache.fetch(image)
    age(path, 3600)
    with lockutils.lock(imagecache.LOCK_PREFIX + image["id"], external=True,
                        lock_path=str(cache.lock_dir)):
        assert cache.remove_unused(set(), older_than=0) == []
    assert path.exists()
