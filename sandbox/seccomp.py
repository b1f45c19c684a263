"""The seccomp filter of a process-backend run: a classic BPF program, generated here with ``struct``.

Every run installs it (``_zygote.py``, after dropping capabilities and setting ``no_new_privs``) just
before the program starts, so the program and everything it forks are bound by it; the zygote and the
supervisor are not (they need ``unshare`` and ``mount`` to build each run). The filter:

1. kills the process unless the architecture is x86_64 (an i386 or x32 syscall table would bypass the
   numbers below), and refuses x32 syscall numbers;
2. answers ``EPERM`` to the syscalls listed in ``DENIED``: io_uring (its own syscall path around this
   filter), ptrace and other processes' memory, kernel keyrings, mounts, bpf, namespaces, module loading,
   perf, userfaultfd, and the host-global administration calls;
3. answers ``EPERM`` to ``clone`` with any namespace flag, and ``ENOSYS`` to ``clone3`` (its flags live in
   memory a filter cannot read; libc falls back to ``clone`` on ENOSYS, as under Docker's profile);
4. allows everything else.

On another architecture ``build_filter`` raises: the backend then reports that the filter is missing.
"""

from __future__ import annotations

import errno
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
DENIED: dict[str, int] = {
    "ptrace": 101,
    "syslog": 103,
    "vhangup": 153,
    "pivot_root": 155,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "lookup_dcookie": 212,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}
CLONE = 56
CLONE3 = 435
# CLONE_NEWTIME | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
# | CLONE_NEWNET
CLONE_NAMESPACE_FLAGS = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
CLONE_NAMESPACE_FLAGS |= 0x20000000 | 0x40000000

# Classic BPF opcodes.
BPF_LD_W_ABS = 0x20
BPF_JMP_JEQ_K = 0x15
BPF_JMP_JGE_K = 0x35
BPF_JMP_JSET_K = 0x45
BPF_RET_K = 0x06
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARG0_LOW = 16  # little endian: the low 32 bits of args[0]


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def _ret(value: int) -> bytes:
    return _insn(BPF_RET_K, 0, 0, value)


def supported() -> tuple[bool, str]:
    machine = platform.machine()
    if machine != "x86_64":
        return False, f"the seccomp filter is written for x86_64, this machine is {machine}"
    return True, ""


def build_filter() -> bytes:
    """The filter as the bytes of a ``struct sock_filter`` array (8 bytes per instruction)."""
    ok, why = supported()
    if not ok:
        raise RuntimeError(why)
    eperm = _ret(SECCOMP_RET_ERRNO | errno.EPERM)
    program = [
        _insn(BPF_LD_W_ABS, 0, 0, OFFSET_ARCH),
        _insn(BPF_JMP_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _ret(SECCOMP_RET_KILL_PROCESS),
        _insn(BPF_LD_W_ABS, 0, 0, OFFSET_NR),
        _insn(BPF_JMP_JGE_K, 0, 1, X32_SYSCALL_BIT),
        eperm,
    ]
    for number in sorted(set(DENIED.values())):
        program += [_insn(BPF_JMP_JEQ_K, 0, 1, number), eperm]
    program += [
        _insn(BPF_JMP_JEQ_K, 0, 1, CLONE3),
        _ret(SECCOMP_RET_ERRNO | errno.ENOSYS),
        _insn(BPF_JMP_JEQ_K, 0, 3, CLONE),
        _insn(BPF_LD_W_ABS, 0, 0, OFFSET_ARG0_LOW),
        _insn(BPF_JMP_JSET_K, 0, 1, CLONE_NAMESPACE_FLAGS),
        eperm,
        _ret(SECCOMP_RET_ALLOW),
    ]
    return b"".join(program)
