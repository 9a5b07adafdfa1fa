"""Loop-mounted ext4 images for log dir failure tests (tests/compat and tests/cluster): a small
image mounted with errors=remount-ro, and the sysfs switch that forces it read-only while files
are open (`mount -o remount,ro` answers EBUSY then). Needs root, loop devices and mkfs.ext4."""

import os
import shutil
import subprocess
import unittest


def run(args):
    return subprocess.run(args, capture_output=True, text=True)


def mount_ext4(root, name):
    """Mounts a 64 MB ext4 image at root/name; returns (mount point, sysfs trigger) or raises
    unittest.SkipTest."""
    img = os.path.join(root, name + ".img")
    mnt = os.path.join(root, name)
    os.mkdir(mnt)
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    for cmd in (["mkfs.ext4", "-q", "-F", img],
                ["mount", "-o", "loop,errors=remount-ro", img, mnt]):
        if not shutil.which(cmd[0]):
            raise unittest.SkipTest(f"{cmd[0]} not found")
        r = run(cmd)
        if r.returncode != 0:
            raise unittest.SkipTest(f"{' '.join(cmd)} failed: {(r.stderr or r.stdout).strip()}"
                                    " (the test needs root and loop devices)")
    dev = run(["findmnt", "-n", "-o", "SOURCE", mnt]).stdout.strip()
    trigger = f"/sys/fs/ext4/{os.path.basename(dev)}/trigger_fs_error"
    return mnt, trigger


def force_read_only(trigger):
    """Makes ext4 record an error: with errors=remount-ro it turns read-only at once."""
    with open(trigger, "w") as f:
        f.write("1")


# ext4's EXT4_IOC_SHUTDOWN = _IOR('X', 125, __u32), and its "no log flush" flag: what xfstests'
# godown does to simulate a dying disk.
EXT4_IOC_SHUTDOWN = 0x8004587D
EXT4_GOING_FLAGS_NOLOGFLUSH = 0x2


def shut_down(mnt):
    """Shuts the ext4 file system at `mnt` down (CAP_SYS_ADMIN): from then on every operation on
    it, even on files already open, fails with EIO, as on a disk that died."""
    import fcntl
    import struct
    fd = os.open(mnt, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
    finally:
        os.close(fd)
