"""Bubblewrap: finding it and the command line of the outer sandbox the zygote lives in.

The outer sandbox gives what every run shares: new user, PID, network, IPC, UTS and cgroup namespaces;
read-only system directories; a read-only root and /dev with no host home, no secrets, no docker socket,
no host directory bound writable; a clean environment. Each run then gets its own nested namespaces
from the zygote (see ``_zygote.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

# Read-only binds of the system: the toolchains live here. /etc is NOT bound whole (it holds secrets);
# only what runtimes need to start.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/ssl/certs",
    "/etc/java-17-openjdk",
    "/etc/java-21-openjdk",
    "/etc/nsswitch.conf",
    # Runtimes that read their configuration from /etc: R (ldpaths, Renviron), Mono (config, machine.config).
    "/etc/R",
    "/etc/mono",
)
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


def bwrap_works(bwrap: str) -> tuple[bool, str]:
    """Whether bubblewrap can create its namespaces here (user namespaces may be disabled by the kernel)."""
    try:
        proc = subprocess.run(
            [bwrap, "--unshare-all", "--ro-bind", "/usr", "/usr", *_merged_usr_links(), "--", "/bin/true"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return proc.returncode == 0, proc.stderr.decode(errors="replace").strip()


def _merged_usr_links() -> list[str]:
    """On merged-/usr systems /bin, /lib... are symlinks into /usr: recreate them, else bind them."""
    args: list[str] = []
    for path in SYSTEM_DIRS[1:]:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def outer_command(
    bwrap: str,
    *,
    python: str,
    zygote_fd: int,
    seccomp_fd: int,
    extra_ro_binds: Sequence[str] = (),
    ro_binds_at: Mapping[str, str] | None = None,
) -> list[str]:
    """The bubblewrap command line that starts the zygote.

    The zygote script and the seccomp filter arrive as descriptors (``pass_fds``) copied into the
    sandbox's root: no host path of this service shows in the sandbox's mount table. The root and /dev
    are then remounted read-only: what a run can write is only the tmpfs mounts of its own namespace.
    """
    args = [
        bwrap,
        "--unshare-user",
        "--uid",
        "0",
        "--gid",
        "0",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        # Capabilities inside the sandbox's own user namespace only (host uid stays unprivileged): the
        # zygote needs them to give every run its own namespaces and mounts; runs drop them all.
        "--cap-add",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--ro-bind",
        "/usr",
        "/usr",
        *_merged_usr_links(),
    ]
    for path in ETC_FILES:
        args += ["--ro-bind-try", path, path]
    for path in extra_ro_binds:
        args += ["--ro-bind", path, path]
    for source, destination in (ro_binds_at or {}).items():
        args += ["--ro-bind", source, destination]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--dir",
        "/work",
        "--dir",
        "/.proc",
        "--dir",
        "/sandbox",
        "--file",
        str(zygote_fd),
        "/sandbox/zygote.py",
        "--file",
        str(seccomp_fd),
        "/sandbox/seccomp.bpf",
        "--remount-ro",
        "/dev",
        "--remount-ro",
        "/",
        "--chdir",
        "/",
        "--clearenv",
        "--setenv",
        "PATH",
        SAFE_PATH,
        "--",
        python,
        "-E",
        "-s",
        "-B",
        "/sandbox/zygote.py",
        "--isolated",
    ]
    return args


def is_system_path(path: str) -> bool:
    real = os.path.realpath(path)
    return any(real == d or real.startswith(d + "/") for d in ("/usr",))
