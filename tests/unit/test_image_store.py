"""The local image store: registering files, the images.json index, lookups."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from novalite import exception
from novalite.conf import CONF
from novalite.image import api as image_api

VIRTUAL_SIZE = 64 * 1024 * 1024


def qcow2_bytes(virtual_size: int = VIRTUAL_SIZE) -> bytes:
    """A qcow2 header (magic, version 3, no backing file, 64 KiB clusters, size)."""
    header = (b"QFI\xfb" + (3).to_bytes(4, "big") + (0).to_bytes(8, "big")
              + (0).to_bytes(4, "big") + (16).to_bytes(4, "big")
              + virtual_size.to_bytes(8, "big"))
    return header + b"\0" * 480


@pytest.fixture
def store(tmp_path: Path):
    directory = tmp_path / "images"
    CONF.set_override("local_dir", str(directory), group="image")
    yield directory
    CONF.clear_override("local_dir", group="image")


def test_add_raw_and_round_trip(store, tmp_path) -> None:
    data = b"raw disk" * 1000
    source = tmp_path / "disk.img"
    source.write_bytes(data)
    image = image_api.add(source, "raw-disk", min_disk=1, min_ram=64,
                          properties={"hw_disk_bus": "virtio"}, owner="ops")
    assert image["name"] == "raw-disk" and image["disk_format"] == "raw"
    assert image["container_format"] == "bare"
    assert image["size"] == image["virtual_size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert (image["os_hash_algo"], image["os_hash_value"]) == \
        ("sha512", hashlib.sha512(data).hexdigest())
    assert image["properties"] == {"hw_disk_bus": "virtio"} and image["owner"] == "ops"
    assert (image["status"], image["visibility"], image["protected"]) == \
        ("active", "public", False)
    assert image["created_at"].endswith("Z")
    # Outside the store directory: the index keeps the absolute path.
    assert image["file"] == str(source.resolve())
    assert image_api.file_path(image) == source.resolve()

    assert image_api.get(None, image["id"]) == image
    assert image_api.get_all(None) == [image]
    assert image_api.get_all(None, name="raw-disk") == [image]
    assert image_api.get_all(None, name="other") == []
    index = json.loads((store / "images.json").read_text())
    assert [entry["id"] for entry in index] == [image["id"]]
    assert "status" not in index[0]  # constant fields are not stored


def test_qcow2_is_detected_and_copied_into_the_store(store, tmp_path) -> None:
    source = tmp_path / "cirros.qcow2"
    source.write_bytes(qcow2_bytes())
    image = image_api.add(source, "cirros", copy=True, hash_algo="sha256",
                          image_id="11111111-2222-3333-4444-555555555555")
    assert image["id"] == "11111111-2222-3333-4444-555555555555"
    assert image["disk_format"] == "qcow2" and image["virtual_size"] == VIRTUAL_SIZE
    assert image["file"] == f"{image['id']}.qcow2"
    assert image_api.file_path(image) == store / f"{image['id']}.qcow2"
    assert image_api.file_path(image).read_bytes() == source.read_bytes()
    assert image["os_hash_value"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_declared_format_must_match_the_file(store, tmp_path) -> None:
    qcow2 = tmp_path / "a.qcow2"
    qcow2.write_bytes(qcow2_bytes())
    raw = tmp_path / "b.img"
    raw.write_bytes(b"x" * 100)
    with pytest.raises(exception.Invalid, match="qcow2 file, not raw"):
        image_api.add(qcow2, "a", disk_format="raw")
    with pytest.raises(exception.Invalid, match="raw file, not qcow2"):
        image_api.add(raw, "b", disk_format="qcow2")
    assert image_api.add(raw, "b", disk_format="raw")["disk_format"] == "raw"


@pytest.mark.parametrize("kwargs", [
    {"name": ""}, {"disk_format": "vmdk"}, {"container_format": "ovf"},
    {"min_disk": -1}, {"min_ram": "1"}, {"hash_algo": "md5"},
])
def test_bad_arguments_are_refused(store, tmp_path, kwargs) -> None:
    source = tmp_path / "disk.img"
    source.write_bytes(b"x")
    arguments = {"name": "x", **kwargs}
    with pytest.raises(exception.Invalid):
        image_api.add(source, **arguments)
    assert image_api.get_all(None) == []


def test_missing_file_and_duplicate_id(store, tmp_path) -> None:
    with pytest.raises(exception.Invalid):
        image_api.add(tmp_path / "nope.img", "x")
    source = tmp_path / "disk.img"
    source.write_bytes(b"x")
    image_api.add(source, "x", image_id="same")
    with pytest.raises(exception.Invalid, match="already exists"):
        image_api.add(source, "y", image_id="same")


def test_lookups_by_url_and_unknown_images(store, tmp_path) -> None:
    source = tmp_path / "disk.img"
    source.write_bytes(b"x")
    image = image_api.add(source, "x")
    assert image_api.get(None, f"http://api:8774/image/v2/images/{image['id']}") == image
    with pytest.raises(exception.ImageNotFound) as raised:
        image_api.get(None, "nope")
    assert raised.value.code == 404
    image_api.remove(image["id"])
    with pytest.raises(exception.ImageNotFound):
        image_api.get(None, image["id"])
    with pytest.raises(exception.ImageNotFound):
        image_api.remove(image["id"])


def test_hand_written_index_gets_defaults(store) -> None:
    store.mkdir()
    (store / "disk.img").write_bytes(b"12345")
    (store / "images.json").write_text(json.dumps([
        {"id": "a", "name": "handmade", "file": "disk.img"},
        {"name": "no id"},
        {"id": "a", "name": "repeated"},
    ]))
    [image] = image_api.get_all(None)
    assert image["name"] == "handmade" and image["size"] == 5
    assert (image["disk_format"], image["min_disk"], image["properties"]) == ("raw", 0, {})
    assert image["created_at"].endswith("Z") and image["checksum"] is None


def test_broken_index_is_a_config_error(store) -> None:
    store.mkdir()
    (store / "images.json").write_text("{not json")
    with pytest.raises(exception.ConfigError):
        image_api.get_all(None)
    (store / "images.json").write_text("{}")
    with pytest.raises(exception.ConfigError):
        image_api.get_all(None)


def test_no_index_means_no_images_and_default_directory(tmp_path) -> None:
    CONF.set_override("state_path", str(tmp_path))
    try:
        assert image_api.image_dir() == tmp_path / "images"
        assert image_api.get_all(None) == []
    finally:
        CONF.clear_override("state_path")


def test_concurrent_adds_keep_every_entry_and_leave_no_temporary_files(store,
                                                                       tmp_path) -> None:
    source = tmp_path / "disk.img"
    source.write_bytes(b"x" * 4096)
    errors: list[BaseException] = []

    def register(n: int) -> None:
        try:
            image_api.add(source, f"img-{n}")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=register, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(i["name"] for i in image_api.get_all(None)) == \
        sorted(f"img-{n}" for n in range(8))
    leftovers = [p.name for p in store.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
