"""Privileged launcher that builds the kernel jail and execs the sandboxed interpreter.

This file is executed as a *script* (``python -I -S -B _launcher.py <config>``) by
:mod:`headrace.sandbox.runner`; it imports nothing from ``headrace``. It must run as root.

Process layout::

    launcher (host PID namespace, root)         waits, mirrors the exit status
      └── init (PID 1 of a new PID namespace, root)
            mounts the jail, pivots into it, reaps, mirrors the worker's status
            └── worker (PID 2, unique unprivileged uid)
                  rlimits, no_new_privs, execs python/node on the bootstrap

When init exits the kernel kills every remaining process of the namespace, so nothing the
user code started can outlive a run. The jail's file system is a fresh read-only tmpfs holding
read-only, nosuid bind mounts of the interpreter trees plus a small writable tmpfs scratch
directory; the host's root is detached after ``pivot_root``. A new network namespace leaves
only a downed loopback interface.

The configuration arrives as hex-encoded :mod:`marshal` data in ``argv[1]`` (written by the
same interpreter; ``json`` is avoided for start-up time). Exit status protocol (launcher and
init): the worker's exit code, ``128 + signal`` when the worker died from a signal, or
:data:`SETUP_FAILED` after writing :data:`SETUP_ERROR_MARK` and a message to the result
descriptor.
"""

from __future__ import annotations

import ctypes
import marshal
import os
import resource
import sys

TYPE_CHECKING = False  # typing is not imported at run time: start-up speed
if TYPE_CHECKING:
    from typing import Any

SETUP_FAILED = 125
SETUP_ERROR_MARK = b"\x00sandbox-setup-error\x00"

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
SIGKILL = 9
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38

_PIVOT_ROOT_NR = {"x86_64": 155, "aarch64": 41}

# seccomp (x86_64): a deny-list that shrinks the kernel surface reachable from the worker.
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
CLONE_NAMESPACE_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
SYS_CLONE = 56
DENIED_SYSCALLS = {  # x86_64 numbers -> EPERM
    "ptrace": 101,
    "syslog": 103,
    "uselib": 134,
    "vhangup": 153,
    "pivot_root": 155,
    "chroot": 161,
    "acct": 163,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "sethostname": 170,
    "setdomainname": 171,
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
    "fanotify_init": 300,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}
# io_uring_setup/enter/register and clone3 -> ENOSYS: libuv and glibc fall back to other calls,
# and plain clone() exposes its flags to the filter
UNIMPLEMENTED_SYSCALLS = (425, 426, 427, 435)

_libc: Any = None  # the C library, loaded by main() (importing this module has no effects)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None) -> None:
    def enc(value: str | None) -> bytes | None:
        return None if value is None else os.fsencode(value)

    ret = _libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data))
    _check(ret, f"mount {src or fstype} on {dst}")


def _prctl(option: int, arg: int) -> None:
    ret = _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0)
    _check(ret, f"prctl({option})")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _pivot_root(new_root: str) -> None:
    nr = _PIVOT_ROOT_NR.get(os.uname().machine)
    os.chdir(new_root)
    if nr is None:  # unknown architecture: a chroot still confines an unprivileged worker
        os.chroot(".")
    else:
        _check(_libc.syscall(ctypes.c_long(nr), b".", b"."), "pivot_root")
        _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")


def _seccomp_program() -> bytes | None:
    """Classic BPF for the worker's seccomp filter, or None off x86_64."""
    if os.uname().machine != "x86_64":
        return None
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, errno_base, kill = 0x7FFF0000, 0x00050000, 0x80000000
    program: list[tuple[int, int | str, int | str, int]] = [
        (ld, 0, 0, 4),  # architecture
        (jeq, 1, 0, AUDIT_ARCH_X86_64),
        (ret, 0, 0, kill),
        (ld, 0, 0, 0),  # syscall number
        (jge, "eperm", 0, X32_SYSCALL_BIT),
    ]
    program += [(jeq, "eperm", 0, nr) for nr in DENIED_SYSCALLS.values()]
    program += [(jeq, "enosys", 0, nr) for nr in UNIMPLEMENTED_SYSCALLS]
    program += [
        (jeq, 0, "allow", SYS_CLONE),
        (ld, 0, 0, 16),  # clone flags (low half of args[0])
        (jset, "eperm", "allow", CLONE_NAMESPACE_FLAGS),
    ]
    labels = {"allow": len(program), "eperm": len(program) + 1, "enosys": len(program) + 2}
    program += [(ret, 0, 0, allow), (ret, 0, 0, errno_base | 1), (ret, 0, 0, errno_base | 38)]
    out = bytearray()
    for index, (code, jt, jf, k) in enumerate(program):
        jumps = [labels[j] - index - 1 if isinstance(j, str) else j for j in (jt, jf)]
        out += code.to_bytes(2, "little") + bytes(jumps) + k.to_bytes(4, "little")
    return bytes(out)


def _install_seccomp() -> None:
    program = _seccomp_program()
    if program is None:
        return

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    fprog = SockFprog(len(program) // 8, program)
    ret = _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)
    _check(ret, "seccomp")


def _inside(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _bind(src: str, dst: str, flags: int) -> None:
    """Bind-mount ``src`` on ``dst`` (non-recursively), then apply ``flags`` to the bind."""
    _mount(src, dst, None, MS_BIND, None)
    _mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_NOSUID | flags, None)


def _build_root(cfg: dict[str, Any]) -> None:
    """Mount the jail's file system tree on ``cfg["root"]`` and pivot into it."""
    root: str = cfg["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    _mount("sandbox-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=512,mode=755")
    for src in cfg["ro_binds"]:
        dst = _inside(root, src)
        if os.path.isdir(src):
            os.makedirs(dst, mode=0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
            with open(dst, "wb"):
                pass
        _bind(src, dst, MS_RDONLY | MS_NODEV)
    for target, link in cfg["symlinks"]:
        os.symlink(target, _inside(root, link))
    os.makedirs(_inside(root, "/dev"), mode=0o755, exist_ok=True)
    for dev in cfg["devices"]:
        dst = _inside(root, dev)
        with open(dst, "wb"):
            pass
        _bind(dev, dst, MS_NOEXEC)  # writable: /dev/null must accept writes
    scratch = _inside(root, cfg["scratch"])
    os.makedirs(scratch, mode=0o755, exist_ok=True)
    opts = f"size={cfg['scratch_mb']}m,nr_inodes=4096,mode=700,uid={cfg['uid']},gid={cfg['gid']}"
    _mount("sandbox-scratch", scratch, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts)
    _pivot_root(root)
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


def _exec_worker(cfg: dict[str, Any]) -> None:
    """Drop every privilege and exec the interpreter (never returns)."""
    os.chdir(cfg["scratch"])
    for name, (soft, hard) in cfg["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    os.setgroups([])
    os.setresgid(cfg["gid"], cfg["gid"], cfg["gid"])
    os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_DUMPABLE, 0)
    _install_seccomp()
    os.closerange(4, 65536)
    argv: list[str] = cfg["argv"]
    os.execve(argv[0], argv, cfg["env"])


def _status(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def _report_setup_error(exc: BaseException) -> None:
    message = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
    try:
        os.write(3, SETUP_ERROR_MARK + message)
    except OSError:
        return


def _init(cfg: dict[str, Any]) -> int:
    """PID 1 of the new PID namespace: build the jail, start the worker, mirror its status."""
    _prctl(PR_SET_PDEATHSIG, SIGKILL)
    _unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    _check(_libc.sethostname(b"sandbox", 7), "sethostname")
    _build_root(cfg)
    worker = os.fork()
    if worker == 0:
        try:
            _prctl(PR_SET_PDEATHSIG, SIGKILL)
            _exec_worker(cfg)
        except BaseException as exc:
            _report_setup_error(exc)
        os._exit(SETUP_FAILED)
    os.closerange(0, 65536)
    while True:  # reap orphans re-parented to us until the worker itself is gone
        pid, wait_status = os.waitpid(-1, 0)
        if pid == worker:
            return _status(wait_status)


def main() -> None:
    """Entry point: ``_launcher.py <hex-marshal-config>``; the result pipe is ``result_fd``."""
    global _libc
    _libc = ctypes.CDLL(None, use_errno=True)
    cfg: dict[str, Any] = marshal.loads(bytes.fromhex(sys.argv[1]))
    result_fd: int = cfg["result_fd"]
    if result_fd != 3:
        os.dup2(result_fd, 3)
        os.close(result_fd)
    try:
        if os.geteuid() != 0:
            raise PermissionError("the sandbox launcher must run as root")
        _prctl(PR_SET_PDEATHSIG, SIGKILL)
        _unshare(CLONE_NEWPID)
        child = os.fork()
    except BaseException as exc:
        _report_setup_error(exc)
        os._exit(SETUP_FAILED)
    if child == 0:
        try:
            code = _init(cfg)
        except BaseException as exc:
            _report_setup_error(exc)
            code = SETUP_FAILED
        os._exit(code)
    os.closerange(0, 65536)
    _, wait_status = os.waitpid(child, 0)
    os._exit(_status(wait_status))


if __name__ == "__main__":
    main()
