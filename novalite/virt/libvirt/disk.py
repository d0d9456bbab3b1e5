"""Disk-file helpers of the libvirt driver: qemu-img, and copying instance directories.

Every command runs through oslo.concurrency's processutils; a failure becomes a
VirtDriverError naming the command and its stderr, so the compute manager reports
something an operator can act on. Paths given to qemu-img are made absolute, so a
file name can never be read as an option or as a protocol prefix ("nbd:...").
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import mmap
import os
import shlex
import uuid
from typing import Any

from oslo_concurrency import processutils

from novalite import exception

LOG = logging.getLogger(__name__)

# qemu-img info parses untrusted image headers: cap what a crafted image can make it
# consume (the limits Nova uses).
QEMU_IMG_LIMITS = processutils.ProcessLimits(cpu_time=30, address_space=1024 ** 3)
BLANK_FORMATS = ("qcow2", "raw")
TRANSPORTS = ("local", "rsync")
SSH_COMMAND = "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new"
_DIRECT_IO_BLOCK = 4096  # aligned for both 512-byte and 4 KiB sector devices

PathLike = str | os.PathLike[str]


def _execute(*cmd: str, **kwargs: Any) -> str:
    """Run cmd; its stdout. Failures become VirtDriverError naming the command."""
    shown = shlex.join(cmd)
    try:
        stdout, _stderr = processutils.execute(*cmd, **kwargs)
    except processutils.ProcessExecutionError as err:
        stderr = (err.stderr or "").strip() or "(no error output)"
        raise exception.VirtDriverError(
            reason=f"`{shown}` failed with exit code {err.exit_code}: {stderr}") from err
    except OSError as err:
        raise exception.VirtDriverError(reason=f"cannot run `{shown}`: {err}") from err
    return stdout


def _abs(path: PathLike) -> str:
    return os.path.abspath(os.fspath(path))


def info(path: PathLike, fmt: str | None = None) -> dict[str, Any]:
    """`qemu-img info` of a disk file, parsed (format, virtual-size, actual-size,
    backing-filename, ...). -U reads images a running guest holds open. Pass fmt when
    it is known: probing a guest-writable raw disk could find a forged qcow2 header."""
    cmd = ["qemu-img", "info", "--output=json", "-U"]
    if fmt:
        cmd += ["-f", fmt]
    cmd.append(_abs(path))
    output = _execute(*cmd, prlimit=QEMU_IMG_LIMITS)
    try:
        data = json.loads(output)
    except ValueError as err:
        raise exception.VirtDriverError(
            reason=f"`{shlex.join(cmd)}` printed something that is not JSON: {err}") from err
    if not isinstance(data, dict) or "format" not in data or "virtual-size" not in data:
        raise exception.VirtDriverError(
            reason=f"`{shlex.join(cmd)}` did not report a format and virtual size")
    return data


def create_overlay(path: PathLike, backing_file: PathLike, backing_format: str,
                   size_bytes: int | None = None) -> None:
    """A qcow2 disk at path whose unwritten blocks read from backing_file (a base image),
    so instances share one copy of their image. size_bytes None: the backing file's
    virtual size; smaller than that raises FlavorDiskTooSmall (an Invalid)."""
    backing = _abs(backing_file)
    cmd = ["qemu-img", "create", "-f", "qcow2", "-F", backing_format, "-b", backing,
           _abs(path)]
    if size_bytes is not None:
        virtual_size = int(info(backing, fmt=backing_format)["virtual-size"])
        if size_bytes < virtual_size:
            raise exception.FlavorDiskTooSmall(
                flavor_size=size_bytes, what=f"the virtual size of {backing}",
                image_size=virtual_size)
        cmd.append(str(size_bytes))
    _execute(*cmd)


def create_blank(path: PathLike, size_bytes: int, fmt: str = "qcow2") -> None:
    """An empty disk (ephemeral or swap); both formats allocate nothing up front."""
    if fmt not in BLANK_FORMATS:
        raise exception.Invalid(reason=f"disk format must be one of {BLANK_FORMATS}, "
                                       f"not {fmt!r}")
    if size_bytes <= 0:
        raise exception.Invalid(reason=f"a disk needs a positive size, not {size_bytes}")
    _execute("qemu-img", "create", "-f", fmt, _abs(path), str(size_bytes))


def resize(path: PathLike, size_bytes: int) -> None:
    """Grow a disk's virtual size (resize to a bigger flavor). The same size is a
    no-op; a smaller one raises CannotResizeDisk (an Invalid): shrinking loses data."""
    data = info(path)
    current = int(data["virtual-size"])
    if size_bytes < current:
        raise exception.CannotResizeDisk(
            reason=f"{_abs(path)} is {current} bytes and cannot shrink to {size_bytes}")
    if size_bytes == current:
        return
    _execute("qemu-img", "resize", "-f", str(data["format"]), _abs(path), str(size_bytes))


def rebase_unsafe(path: PathLike, backing_file: PathLike, backing_format: str) -> None:
    """Point a qcow2 overlay at another copy of the same base (after a migration its
    base lives on the destination host); no data is read or compared."""
    _execute("qemu-img", "rebase", "-u", "-f", "qcow2", "-F", backing_format,
             "-b", _abs(backing_file), _abs(path))


def _rsync_host(address: str) -> str:
    """rsync needs brackets around an IPv6 address (host:path is ambiguous without)."""
    if ":" in address and not address.startswith("["):
        user, at, host = address.rpartition("@")
        return f"{user}{at}[{host}]"
    return address


def copy_dir(source_dir: PathLike, dest_dir: str, transport: str = "local",
             address: str | None = None) -> None:
    """Copy every file of an instance directory (cold migration, resize), keeping holes
    so sparse disks stay sparse, and modes and times.

    local: dest_dir is on this machine; it is created if needed, files already there
    are overwritten. rsync: dest_dir is on `address`, reached with ssh (keys, no
    prompt); rsync creates it (--mkpath needs rsync >= 3.2.3 on both ends).
    """
    if transport not in TRANSPORTS:
        raise exception.Invalid(reason=f"disk copy transport must be one of {TRANSPORTS}, "
                                       f"not {transport!r}")
    source = _abs(source_dir)
    if not os.path.isdir(source):
        raise exception.VirtDriverError(reason=f"instance directory {source} does not exist")
    if transport == "rsync":
        if not address:
            raise exception.Invalid(reason="copying disks with rsync needs the address "
                                           "of the destination host")
        _execute("rsync", "-a", "--sparse", "--mkpath", "-e", SSH_COMMAND,
                 source.rstrip("/") + "/",
                 f"{_rsync_host(address)}:{dest_dir.rstrip('/')}/")
        return
    dest = _abs(dest_dir)
    if os.path.exists(dest) and os.path.samefile(source, dest):
        raise exception.Invalid(reason=f"cannot copy {source} onto itself")
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as err:
        raise exception.VirtDriverError(reason=f"cannot create {dest}: {err}") from err
    # "<source>/." copies the directory's contents (dot files included) into dest.
    _execute("cp", "-r", "-p", "--sparse=always", os.path.join(source, "."), dest + "/")


def supports_direct_io(directory: PathLike) -> bool:
    """Whether files in directory can be opened with O_DIRECT, which libvirt's
    cache=none needs (tmpfs and some FUSE filesystems refuse it)."""
    if not hasattr(os, "O_DIRECT"):
        return False
    path = os.path.join(os.fspath(directory), f".directio.test.{uuid.uuid4().hex}")
    fd = None
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_DIRECT, 0o600)
        # O_DIRECT wants an aligned buffer: an anonymous mmap is page aligned.
        with mmap.mmap(-1, _DIRECT_IO_BLOCK) as buffer:
            buffer.write(b"\x00" * _DIRECT_IO_BLOCK)
            os.write(fd, buffer)
        return True
    except OSError as err:
        if err.errno == errno.EINVAL:
            LOG.debug("%s does not support O_DIRECT", directory)
        else:
            LOG.warning("Cannot tell whether %s supports O_DIRECT: %s", directory, err)
        return False
    finally:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(OSError):  # a failed open may still have created it
            os.unlink(path)

