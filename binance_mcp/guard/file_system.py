"""Whether a file lives on a local file system, where `stat` always sees the latest change.

A network file system (NFS, SMB, FUSE mounts, 9p, ...) caches a file's attributes for seconds,
and only an `open` revalidates them (close-to-open consistency), so a file that may be edited
from another machine has to be opened to be checked. A local one can be checked with a single
`stat`, which on this server's hot path (the policy file, on every call) is a third of the
system calls.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

MOUNTINFO: Final = Path("/proc/self/mountinfo")
# Block-device and memory file systems of the kernel's own: their stat is the inode itself.
LOCAL: Final = frozenset(
    {
        "bcachefs",
        "btrfs",
        "exfat",
        "ext2",
        "ext3",
        "ext4",
        "f2fs",
        "hfsplus",
        "iso9660",
        "jfs",
        "ntfs3",
        "overlay",
        "ramfs",
        "reiserfs",
        "squashfs",
        "tmpfs",
        "vfat",
        "xfs",
        "zfs",
    }
)


def file_system_of(path: Path, mountinfo: Path = MOUNTINFO) -> str | None:
    """The type of the file system `path` (symbolic links resolved) is on, from the mount
    table (Linux); None when it cannot be told."""
    try:
        real = os.path.realpath(path)
        table = mountinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    best, found = -1, None
    for line in table.splitlines():
        # "36 35 98:0 /root /mnt/point rw,noatime master:1 - ext4 /dev/sda1 rw": the mount
        # point is the 5th field (spaces escaped as \040), the type follows the "-".
        fields = line.split()
        try:
            mount = _unescape(fields[4])
            kind = fields[fields.index("-", 6) + 1]
        except (IndexError, ValueError):
            continue
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        # The last of equally long matches: a later mount over the same point hides earlier.
        if inside and len(mount) >= best:
            best, found = len(mount), kind
    return found


def is_local(path: Path, mountinfo: Path = MOUNTINFO) -> bool:
    """True only when `path` is known to be on a local file system."""
    return file_system_of(path, mountinfo) in LOCAL


_OCTAL: Final = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    # The kernel escapes space, tab, newline and backslash in octal (\040, \011, \012, \134).
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)
