"""The sandbox (funcall/eval/sandbox.py) against hostile programs: each is contained and harms nothing.

Every test runs real programs in real sandboxes (no mocks). The hostile ones need the isolation a
root Linux machine gives (namespaces + throw-away uid), which CI has; elsewhere they are skipped,
because without it the sandbox is only rlimits and a fork bomb or `rm -rf` would reach your files.
After each hostile run we check that no process of a throw-away uid is left, that this feature's
files in the repository are byte for byte what they were, and that no path there belongs to a
throw-away uid.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO
from funcall.eval.sandbox import STRONG_LAYERS, Limits, Sandbox, SandboxError

LIMITS = Limits(timeout_s=4.0, cpu_s=2, memory_mb=256, processes=8, file_mb=1, output_bytes=4096)


def throwaway_pids() -> list[int]:
    """Processes whose real uid is in the sandbox's throw-away range (>= 100000)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid = int((entry / "status").read_text().split("\nUid:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                continue
            if uid >= 100000:
                pids.append(int(entry.name))
    return pids


def repo_state() -> dict:
    """What a sandboxed program could have touched in the repository: the content of this feature's
    own files (other people edit other files meanwhile), and any path a throw-away uid owns."""
    import hashlib

    ours = sorted([*(REPO / "conf" / "eval").glob("*.yaml"), *(REPO / "funcall" / "eval").glob("*.py"),
                   REPO / "conf" / "evaluate.yaml", REPO / "setup.cfg"])
    owned = [str(p) for top in ("conf", "funcall", "tests") for p in (REPO / top).rglob("*")
             if p.lstat().st_uid >= 100000]
    return {"hashes": {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in ours}, "owned": owned}


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    box = Sandbox(LIMITS, workers=2)
    missing = [layer for layer in STRONG_LAYERS if layer not in box.isolation]
    if missing:
        pytest.skip(f"no {missing} isolation here (needs root on Linux): hostile programs are not run")
    return box


@pytest.fixture
def untouched():
    """The repository and the process table are the same after the test as before."""
    before = repo_state()
    assert throwaway_pids() == []
    yield
    for _ in range(50):  # the kernel reaps a killed namespace asynchronously
        if not throwaway_pids():
            break
        time.sleep(0.1)
    assert throwaway_pids() == [], "a sandboxed process outlived its run"
    assert repo_state() == before


def run(box: Sandbox, code: str):
    return box.run({"main.py": code}, ["main.py"])


# -- plain behaviour ----------------------------------------------------------------------------

def test_a_program_runs_with_its_output_exit_code_and_a_clean_environment(sandbox, monkeypatch):
    monkeypatch.setenv("FUNCALL_TEST_API_KEY", "sk-secret")
    monkeypatch.setenv("WANDB_API_KEY", "wandb-secret")
    out = run(sandbox, "import os, sys\nprint(sorted(os.environ))\nprint(os.getuid(), os.listdir('/root'))\n"
                       "print(os.listdir('.'))\nsys.exit(3)")
    env, ids, listing = out.stdout.splitlines()
    assert out.exit_code == 3 and not out.timed_out and out.signal is None
    assert "secret" not in out.stdout and "KEY" not in env and "TOKEN" not in env and "HOME" in env
    uid, root = ids.split(" ", 1)
    assert int(uid) >= 100000 and ".netrc" not in root and ".cache" not in root  # /root is an empty tmpfs
    assert listing == "['main.py']"
    assert set(STRONG_LAYERS) <= set(out.layers)


def test_the_folder_is_removed_and_runs_are_independent(sandbox):
    first = run(sandbox, "import os\nopen('left.txt', 'w').write('x')\nprint(os.getcwd())")
    assert first.exit_code == 0 and not Path(first.stdout.strip()).exists()
    second = run(sandbox, "import os\nprint(os.listdir('.'))")
    assert second.stdout.strip() == "['main.py']"


def test_output_is_bounded(sandbox, untouched):
    out = run(sandbox, "while True:\n    print('x' * 1000)")
    assert not out.ok and len(out.stdout) < 2 * LIMITS.output_bytes and "bytes cut" in out.stdout


def test_many_jobs_on_a_bounded_pool_keep_their_order(sandbox):
    jobs = [({"main.py": f"print({i} * {i})"}, ["main.py"]) for i in range(6)]
    assert [o.stdout.strip() for o in sandbox.map(jobs)] == [str(i * i) for i in range(6)]


# -- hostile programs ---------------------------------------------------------------------------

def test_an_infinite_loop_is_stopped_by_cpu_time(sandbox, untouched):
    t0 = time.monotonic()
    out = run(sandbox, "while True:\n    pass")
    assert not out.ok and (out.signal in ("SIGXCPU", "SIGKILL") or out.timed_out)
    assert time.monotonic() - t0 < LIMITS.timeout_s + 2


def test_a_sleeping_program_is_stopped_by_the_wall_clock(sandbox, untouched):
    t0 = time.monotonic()
    out = run(sandbox, "import time\ntime.sleep(3600)")
    assert out.timed_out and out.exit_code is None
    assert LIMITS.timeout_s <= time.monotonic() - t0 < LIMITS.timeout_s + 2


def test_a_fork_bomb_stays_under_the_process_limit_and_dies_with_the_run(sandbox, untouched):
    peak, done = [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], len(throwaway_pids()))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        out = run(sandbox, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
    finally:
        done.set()
        watcher.join()
    assert not out.ok
    assert 1 <= peak[0] <= LIMITS.processes


def test_a_daemonized_child_does_not_outlive_the_run(sandbox, untouched):
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(600)\n"
            "    os._exit(0)\nprint('parent done')")
    out = run(sandbox, code)
    assert out.exit_code == 0 and out.stdout.strip() == "parent done"


def test_a_memory_bomb_fails_inside_its_limit(sandbox, untouched):
    big = run(sandbox, "x = bytearray(8 << 30)")
    assert big.exit_code == 1 and "MemoryError" in big.stderr
    grow = run(sandbox, "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))")
    assert not grow.ok and ("MemoryError" in grow.stderr or grow.signal)


def test_deleting_files_outside_the_sandbox_fails_and_the_canary_survives(sandbox, untouched, tmp_path):
    canary = REPO / ".pytest_cache" / f"sandbox-canary-{os.getpid()}"
    (canary / "inner").mkdir(parents=True, exist_ok=True)
    (canary / "inner" / "keep.txt").write_text("alive")
    os.chmod(canary, 0o755)
    os.chmod(canary / "inner", 0o755)
    try:
        code = (f"import os, shutil\ncanary = {str(canary)!r}\nresults = []\n"
                "for attempt in (lambda: shutil.rmtree(canary), lambda: os.remove(canary + '/inner/keep.txt'),\n"
                "                lambda: open(canary + '/inner/keep.txt', 'w').write('gone'),\n"
                "                lambda: os.rename(canary, canary + '-moved'), lambda: os.chmod(canary, 0o777),\n"
                f"                lambda: shutil.rmtree({str(REPO / 'funcall' / 'conf')!r}),\n"
                "                lambda: open('/etc/funcall-sandbox-was-here', 'w')):\n"
                "    try:\n        attempt()\n        results.append('DONE')\n"
                "    except OSError as exc:\n        results.append(type(exc).__name__)\nprint(results)")
        out = run(sandbox, code)
        assert out.exit_code == 0, out.stderr
        assert "DONE" not in out.stdout and "PermissionError" in out.stdout
        assert (canary / "inner" / "keep.txt").read_text() == "alive"
        assert (canary / "inner").stat().st_mode & 0o777 == 0o755
        assert not Path("/etc/funcall-sandbox-was-here").exists()
        assert (REPO / "funcall" / "conf" / "evaluate.yaml").is_file()
    finally:
        import shutil

        shutil.rmtree(canary, ignore_errors=True)


def test_writes_to_tmp_stay_in_the_private_tmpfs(sandbox, untouched):
    name = f"funcall-sandbox-leak-{os.getpid()}"
    out = run(sandbox, f"open('/tmp/{name}', 'w').write('x')\nopen('/dev/shm/{name}', 'w').write('x')\nprint('ok')")
    assert out.exit_code == 0 and out.stdout.strip() == "ok"
    assert not Path(f"/tmp/{name}").exists() and not Path(f"/dev/shm/{name}").exists()


def test_sockets_reach_nothing_not_even_a_server_on_loopback(sandbox, untouched):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        code = (f"import socket\nresults = []\nfor attempt in (lambda: socket.create_connection(('127.0.0.1', {port}), 1),\n"
                f"                lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {port})),\n"
                f"                lambda: socket.create_connection(('::1', {port}), 1)):\n"
                "    try:\n        attempt()\n        results.append('DONE')\n"
                "    except OSError as exc:\n        results.append(type(exc).__name__)\nprint(results)")
        out = run(sandbox, code)
        assert out.exit_code == 0, out.stderr
        assert "DONE" not in out.stdout
        with pytest.raises(TimeoutError):  # nothing ever connected
            server.accept()
    finally:
        server.close()


def test_signals_cannot_reach_processes_outside_the_run(sandbox, untouched):
    sentinel = subprocess.Popen(["sleep", "60"])
    try:
        out = run(sandbox, f"import os, signal\nfor pid in (-1, {sentinel.pid}, {os.getpid()}, 1):\n"
                           "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n")
        assert out.signal in ("SIGKILL", None)  # kill(-1) may take the program itself down: fine
        assert sentinel.poll() is None  # our process and this one are alive
    finally:
        sentinel.send_signal(signal.SIGKILL)
        sentinel.wait()


def test_an_early_exit_is_an_exit_not_a_hang(sandbox, untouched):
    out = run(sandbox, "import os\nos._exit(0)")
    assert out.exit_code == 0 and out.stdout == ""


# -- without the namespaces ---------------------------------------------------------------------

def test_without_namespaces_sockets_meet_the_python_guard():
    box = Sandbox(LIMITS, namespaces=False)
    assert "network" not in box.isolation
    out = run(box, "import socket\nsocket.create_connection(('127.0.0.1', 9), 1)")
    assert out.exit_code == 1 and "network access is disabled" in out.stderr
    assert run(box, "print(6 * 7)").stdout.strip() == "42"


def test_require_isolation_refuses_to_run_without_it():
    box = Sandbox(LIMITS, namespaces=False, require_isolation=True)
    with pytest.raises(SandboxError, match="require_isolation=false"):
        run(box, "print(1)")
