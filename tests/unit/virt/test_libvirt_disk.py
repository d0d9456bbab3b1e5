"""qemu-img and copy helpers of the libvirt driver, against real qemu-img and cp."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from unittest import mock

import pytest
from oslo_concurrency import processutils

from novalite import exception
from novalite.virt.libvirt import disk

MIB = 1024 * 1024


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A 16 MiB raw base image."""
    path = tmp_path / "base.raw"
    with open(path, "wb") as handle:
        handle.write(b"bootloader")
        handle.truncate(16 * MIB)
    return path


@pytest.fixture
def execute():
    """Spy on every command run (real commands still run)."""
    with mock.patch.object(disk.processutils, "execute",
                           wraps=processutils.execute) as spy:
        yield spy


def commands(spy: mock.Mock) -> list[tuple[str, ...]]:
    return [call.args for call in spy.call_args_list]


def test_info_of_raw(base) -> None:
    data = disk.info(base)
    assert data["format"] == "raw" and data["virtual-size"] == 16 * MIB
    assert "actual-size" in data and "backing-filename" not in data
    assert disk.info(base, fmt="raw")["format"] == "raw"


def test_overlay_on_raw_base(base, tmp_path) -> None:
    overlay = tmp_path / "disk"
    disk.create_overlay(overlay, base, "raw")
    data = disk.info(overlay)
    assert data["format"] == "qcow2" and data["virtual-size"] == 16 * MIB
    assert data["backing-filename"] == str(base)
    assert data["backing-filename-format"] == "raw"

    disk.create_overlay(tmp_path / "bigger", base, "raw", 64 * MIB)
    assert disk.info(tmp_path / "bigger")["virtual-size"] == 64 * MIB
    disk.create_overlay(tmp_path / "same", base, "raw", 16 * MIB)
    assert disk.info(tmp_path / "same")["virtual-size"] == 16 * MIB


def test_overlay_smaller_than_image(base, tmp_path) -> None:
    with pytest.raises(exception.Invalid, match="too small"):
        disk.create_overlay(tmp_path / "disk", base, "raw", 8 * MIB)
    assert not (tmp_path / "disk").exists()


def test_resize(base, tmp_path, execute) -> None:
    overlay = tmp_path / "disk"
    disk.create_overlay(overlay, base, "raw")
    disk.resize(overlay, 32 * MIB)
    assert disk.info(overlay)["virtual-size"] == 32 * MIB
    execute.reset_mock()
    disk.resize(overlay, 32 * MIB)
    assert [cmd[1] for cmd in commands(execute)] == ["info"]
    with pytest.raises(exception.Invalid, match="cannot shrink"):
        disk.resize(overlay, 16 * MIB)
    assert disk.info(overlay)["virtual-size"] == 32 * MIB
    disk.resize(base, 20 * MIB)  # raw files grow too
    assert base.stat().st_size == 20 * MIB


def test_rebase_unsafe(base, tmp_path) -> None:
    other = tmp_path / "elsewhere" / "base.raw"
    other.parent.mkdir()
    other.write_bytes(base.read_bytes())
    overlay = tmp_path / "disk"
    disk.create_overlay(overlay, base, "raw")
    disk.rebase_unsafe(overlay, other, "raw")
    data = disk.info(overlay)
    assert data["backing-filename"] == str(other)
    assert data["backing-filename-format"] == "raw"


@pytest.mark.parametrize("fmt", ["qcow2", "raw"])
def test_create_blank(tmp_path, fmt) -> None:
    path = tmp_path / f"disk.{fmt}"
    disk.create_blank(path, 100 * MIB, fmt)
    data = disk.info(path)
    assert (data["format"], data["virtual-size"]) == (fmt, 100 * MIB)
    assert "backing-filename" not in data
    assert path.stat().st_blocks * 512 < MIB


def test_create_blank_refuses_bad_arguments(tmp_path) -> None:
    with pytest.raises(exception.Invalid):
        disk.create_blank(tmp_path / "d", 0)
    with pytest.raises(exception.Invalid):
        disk.create_blank(tmp_path / "d", MIB, "vmdk")


def test_qemu_img_failure_names_the_command(tmp_path) -> None:
    missing = tmp_path / "missing.qcow2"
    with pytest.raises(exception.VirtDriverError) as caught:
        disk.info(missing)
    message = str(caught.value)
    assert "qemu-img info --output=json -U" in message and str(missing) in message
    assert "No such file" in message


def test_execute_errors_become_virt_driver_errors(tmp_path) -> None:
    failure = processutils.ProcessExecutionError(stderr="boom\n", exit_code=3, cmd="x")
    with mock.patch.object(disk.processutils, "execute", side_effect=failure), \
            pytest.raises(exception.VirtDriverError) as caught:
        disk.rebase_unsafe(tmp_path / "a", tmp_path / "b", "raw")
    assert "`qemu-img rebase -u" in str(caught.value)
    assert "exit code 3: boom" in str(caught.value)
    with mock.patch.object(disk.processutils, "execute",
                           side_effect=FileNotFoundError(2, "No such file")), \
            pytest.raises(exception.VirtDriverError, match="cannot run `qemu-img create"):
        disk.create_blank(tmp_path / "a", MIB)


def test_copy_dir_local_keeps_holes_and_merges(tmp_path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dest"
    source.mkdir()
    sparse = source / "disk"
    with open(sparse, "wb") as handle:
        handle.write(b"data at the start")
        handle.seek(50 * MIB)
        handle.write(b"data in the middle")
        handle.truncate(100 * MIB)
    (source / "console.log").write_text("log")
    os.chmod(source / "console.log", 0o600)
    os.utime(source / "console.log", (1_000_000, 1_000_000))
    dest.mkdir()
    (dest / "console.log").write_text("an older log, longer than the new one")
    (dest / "unrelated").write_text("kept")

    disk.copy_dir(source, str(dest))

    copied = dest / "disk"
    assert copied.stat().st_size == 100 * MIB
    assert copied.stat().st_blocks * 512 < MIB
    with open(copied, "rb") as handle:
        assert handle.read(17) == b"data at the start"
        handle.seek(50 * MIB)
        assert handle.read(18) == b"data in the middle"
    log = dest / "console.log"
    assert log.read_text() == "log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and log.stat().st_mtime == 1_000_000
    assert (dest / "unrelated").read_text() == "kept"
    disk.copy_dir(source, str(tmp_path / "new" / "dir"))  # missing parents are created
    assert (tmp_path / "new" / "dir" / "console.log").read_text() == "log"


def test_copy_dir_local_errors(tmp_path) -> None:
    with pytest.raises(exception.VirtDriverError, match="does not exist"):
        disk.copy_dir(tmp_path / "nope", str(tmp_path / "dest"))
    with pytest.raises(exception.Invalid, match="onto itself"):
        disk.copy_dir(tmp_path, str(tmp_path))
    with pytest.raises(exception.Invalid, match="transport"):
        disk.copy_dir(tmp_path, str(tmp_path / "dest"), transport="scp")


@pytest.mark.parametrize(("address", "host"), [
    ("10.0.0.2", "10.0.0.2"), ("c2.example", "c2.example"), ("fd00::2", "[fd00::2]"),
    ("nova@fd00::2", "nova@[fd00::2]"), ("[fd00::2]", "[fd00::2]"),
])
def test_copy_dir_rsync_command(tmp_path, address, host) -> None:
    with mock.patch.object(disk.processutils, "execute", return_value=("", "")) as execute:
        disk.copy_dir(tmp_path, "/var/lib/novalite/instances/uuid", transport="rsync",
                      address=address)
    execute.assert_called_once_with(
        "rsync", "-a", "--sparse", "--mkpath",
        "-e", "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
        f"{tmp_path}/", f"{host}:/var/lib/novalite/instances/uuid/")


def test_copy_dir_rsync_needs_an_address(tmp_path) -> None:
    with mock.patch.object(disk.processutils, "execute") as execute, \
            pytest.raises(exception.Invalid, match="address"):
        disk.copy_dir(tmp_path, "/dest", transport="rsync")
    execute.assert_not_called()


def test_supports_direct_io(tmp_path) -> None:
    assert isinstance(disk.supports_direct_io(tmp_path), bool)
    assert list(tmp_path.iterdir()) == []
    assert disk.supports_direct_io(tmp_path / "missing") is False


def test_supports_direct_io_refused(tmp_path) -> None:
    real_open = os.open

    def open_like_tmpfs(path, flags, mode=0o777):
        os.close(real_open(path, flags & ~os.O_DIRECT, mode))  # created, then refused
        raise OSError(errno.EINVAL, "Invalid argument")

    with mock.patch.object(disk.os, "open", side_effect=open_like_tmpfs):
        assert disk.supports_direct_io(tmp_path) is False
    assert list(tmp_path.iterdir()) == []
