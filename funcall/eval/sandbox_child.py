"""The sandbox's launcher: run as a script (``python -I -S sandbox_child.py SPEC_JSON``), never imported.

`funcall.eval.sandbox` starts this file once per execution, in a fresh session, in the sandbox's
working directory, with a minimal environment. It is trusted code and imports only the standard
library (it runs outside the funcall package, before any untrusted code). What it does, in order:

outer (this process, root):  create new mount, network, PID, IPC and UTS namespaces (unshare),
                             then fork and wait for "init";
init (PID 1 of the new PID namespace, still root, never runs untrusted code):
                             make every mount private (nothing propagates to the host), cover
                             /tmp, /var/tmp and /dev/shm with small private tmpfs, cover /root and
                             /home with an empty tmpfs (the interpreter's own folder is bound back
                             read-only wherever it lives, the run's folder read-write), mount a
                             /proc for the new PID namespace,
                             then fork the payload and wait for it;
payload:                     resource limits (CPU seconds, address space, processes, file size,
                             open files, no core dumps), drop to a throw-away uid/gid with no
                             supplementary groups, no_new_privs, then exec
                             ``python -I -S ARGV...`` (isolated mode, no site-packages).

When the payload ends, init reports its exit status on the status pipe and exits; the kernel then
kills every process left in the PID namespace (daemonized or forked children included), and the
network namespace (loopback down, no interfaces) and private mounts disappear with them. The
parent kills the process group on the wall-clock timeout, which takes init and so the whole
namespace down. The throw-away uid is fresh for each execution, so RLIMIT_NPROC counts only this
execution's processes, and the payload can neither write files it does not own nor signal any
process outside its own execution.

Not root (a developer's account): no namespaces, no uid change; only the resource limits, the new
session and the caller's socket guard apply (`funcall.eval.sandbox` says what that leaves open).
``--sweep`` (run as the throw-away uid) kills every process of that uid: the clean-up used when no
PID namespace could be made.
"""
import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SETUP_FAILED = 125  # exit status of outer/init when the sandbox could not be set up

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def _prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl {option}")


def _report(fd: int, data: dict) -> None:
    if fd >= 0:
        os.write(fd, (json.dumps(data) + "\n").encode())


def _cover(path: str, keep: list[str], writable: list[str], options: str, read_only: bool) -> None:
    """Cover ``path`` with a fresh tmpfs; bind the folders of ``keep`` (read-only) and ``writable``
    that lie under it back at their own place. They are opened first, so they are bound from the
    open descriptor."""
    if not os.path.isdir(path):
        return
    under = (lambda k: k.startswith(path.rstrip("/") + "/"))
    binds = [(k, False) for k in keep if under(k)] + [(k, True) for k in writable if under(k)]
    fds = [(k, rw, os.open(k, os.O_RDONLY | os.O_DIRECTORY)) for k, rw in binds]
    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for target, rw, fd in fds:
        os.makedirs(target, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        if not rw:
            _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    if read_only:
        _mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, options)


def _private_mounts(spec: dict) -> None:
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # first: nothing below may reach the host
    work = os.getcwd()
    for hidden in spec["hide"]:  # the interpreter's folder comes back read-only
        _cover(hidden, spec["keep"], [], "mode=0755,size=1m", read_only=True)
    for tmp in ("/tmp", "/var/tmp", "/dev/shm"):  # the program's own folder comes back writable
        _cover(tmp, spec["keep"], [work], f"mode=1777,size={spec['tmpfs_mb']}m", read_only=False)
    os.chdir(work)  # the folder now seen through its bind mount
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _limits(spec: dict) -> None:
    cpu = int(spec["cpu_s"])
    pairs = [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (spec["memory_bytes"],) * 2),
        (resource.RLIMIT_FSIZE, (spec["file_bytes"],) * 2),
        (resource.RLIMIT_NOFILE, (spec["open_files"],) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    if spec.get("uid") is not None:  # a fresh uid: the count is this execution's processes only
        pairs.append((resource.RLIMIT_NPROC, (spec["processes"],) * 2))
    for kind, value in pairs:
        resource.setrlimit(kind, value)


def _payload(spec: dict) -> None:
    """Runs in the payload process: limits, identity, then the interpreter. Never returns."""
    try:
        os.umask(0o077)
        _limits(spec)
        if spec.get("uid") is not None:
            os.setgroups([])
            os.setgid(spec["gid"])
            os.setuid(spec["uid"])
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        os.execve(spec["python"], [spec["python"], "-I", "-S", *spec["argv"]], spec["env"])
    except BaseException as exc:  # noqa: BLE001 - report and die, whatever went wrong
        _report(spec["status_fd"], {"setup_error": f"payload: {type(exc).__name__}: {exc}"})
        os._exit(SETUP_FAILED)


def _wait_for(pid: int) -> tuple[int | None, int | None]:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return None, None
        except InterruptedError:
            continue
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status), None
        if os.WIFSIGNALED(status):
            return None, os.WTERMSIG(status)


def _init(spec: dict, layers: list[str]) -> None:
    """PID 1 of the new namespaces (or the plain launcher without them). Never returns."""
    fd = spec["status_fd"]
    try:
        if "mount" in layers:
            _private_mounts(spec)
            layers += ["private_tmp", "hidden_home", "proc"]
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except BaseException as exc:  # noqa: BLE001
        _report(fd, {"setup_error": f"init: {type(exc).__name__}: {exc}"})
        os._exit(SETUP_FAILED)
    if spec.get("uid") is not None and "mount" not in layers and not spec["python_reachable"]:
        spec["uid"] = None  # the throw-away uid could not even start the interpreter: stay as we are
    if spec.get("uid") is not None:
        layers.append("uid")
    _report(fd, {"layers": layers})
    pid = os.fork()
    if pid == 0:
        os.set_inheritable(fd, False)  # the payload never sees the status pipe
        _payload(spec)
    code, sig = _wait_for(pid)
    _report(fd, {"exit": code, "signal": sig})
    os._exit(0)


def _outer(spec: dict) -> None:
    fd = spec["status_fd"]
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    layers: list[str] = []
    if spec["namespaces"] and os.geteuid() == 0:
        try:
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
            layers += ["mount", "network", "pid", "ipc", "uts"]
        except OSError as exc:
            if spec["require_namespaces"]:
                _report(fd, {"setup_error": f"outer: {exc}"})
                os._exit(SETUP_FAILED)
    if "pid" not in layers:  # no namespace to wait in: this process is "init"
        _init(spec, layers)
    pid = os.fork()
    if pid == 0:
        _init(spec, layers)
    code, sig = _wait_for(pid)
    os._exit(SETUP_FAILED if code is None and sig is not None else 0)


def _sweep() -> None:
    """Kill every process of the calling uid (run as the throw-away uid); kill(-1) spares the caller."""
    for _ in range(1000):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        except PermissionError:
            return


if __name__ == "__main__":
    if sys.argv[1:] == ["--sweep"]:
        _sweep()
        sys.exit(0)
    _outer(json.loads(sys.argv[1]))
