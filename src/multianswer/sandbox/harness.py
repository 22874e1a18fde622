"""The part of the sandbox that shares a process with candidate code: the audit hook and the
program-then-tests run. Stdlib only; loaded by `runner.py` (by path) before any
candidate code exists, never imported by the package.

The secret token lives only in a local variable of `run_untrusted`. Candidate code runs in
the same interpreter, so the audit hook closes every way to reach that local: frames
(sys._getframe, tb_frame, gi_frame, cr_frame, ag_frame, settrace/setprofile,
_current_frames), gc's object lists, ctypes and CPython's test modules, crafted code objects
(code.__new__, marshal; imports therefore compile stdlib sources instead of reading .pyc),
/proc (own memory) and directory file descriptors (openat around those checks).
"""

import json
import os
import stat
import sys

# The functions below look builtins up in this private copy, so candidate code that patches
# the shared `builtins` module (builtins.isinstance = ...) cannot change what they do.
__builtins__ = dict(vars(__import__("builtins")))

def install_guard(workdir, strict):
    """Audit hook: close introspection paths always; in `strict` mode (no OS isolation) also
    processes, signals, sockets and writes outside `workdir`."""
    # Bound now: the candidate may patch the os and stat modules, the hook keeps the originals.
    pstat, plstat, s_isdir, s_ischr, s_islnk = os.stat, os.lstat, stat.S_ISDIR, stat.S_ISCHR, stat.S_ISLNK
    encoding = sys.getfilesystemencoding()
    proc_dev = pstat("/proc").st_dev
    work = pstat(workdir)
    work_id = (work.st_dev, work.st_ino)
    devices = {os.makedev(1, m) for m in (3, 5, 7, 8, 9)}  # null, zero, full, random, urandom
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    frames = {"tb_frame", "gi_frame", "cr_frame", "ag_frame"}
    modules = {"ctypes", "_ctypes", "_testcapi", "_testinternalcapi", "_testbuffer", "_testmultiphase",
               "_testclinic", "_testimportmultiple", "_ctypes_test", "_xxsubinterpreters", "_xxinterpchannels",
               "_xxtestfuzz"}
    denied = {"sys._getframe", "sys._getframemodulename", "sys._current_frames", "sys._current_exceptions",
              "sys.settrace", "sys.setprofile", "sys._settraceallthreads", "sys._setprofileallthreads",
              "sys.addaudithook", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "code.__new__",
              "marshal.loads", "marshal.load", "resource.setrlimit", "resource.prlimit", "os.symlink"}
    if strict:
        denied |= {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn",
                   "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill", "socket.__new__",
                   "socket.connect", "socket.bind", "socket.sendto", "socket.getaddrinfo", "os.link"}
        modules |= {"_posixsubprocess"}  # its fork_exec raises no audit event of its own
    # event -> (indices of path arguments, indices of dir_fd arguments)
    mutations = {"os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)), "os.rename": ((0, 1), (2, 3)),
                 "os.mkdir": ((0,), (2,)), "os.chmod": ((0,), (2,)), "os.chown": ((0,), (3,)),
                 "os.truncate": ((0,), ()), "os.utime": ((0,), (3,)), "os.mkfifo": ((0,), (2,)),
                 "os.mknod": ((0,), (3,)), "os.setxattr": ((0,), ()), "os.removexattr": ((0,), ()),
                 "os.chflags": ((0,), ()), "shutil.rmtree": ((0,), (1,)), "shutil.move": ((0, 1), ()),
                 "shutil.copyfile": ((1,), ()), "shutil.copytree": ((1,), ()), "shutil.chown": ((0,), ())}
    no_dir_fd = {None, -1, -100}  # unset, or AT_FDCWD

    def inside_workdir(path):
        """True when `path` (or, for a new file, its directory) lies under the workdir."""
        try:
            if s_islnk(plstat(path).st_mode):
                return False  # its target could be anywhere
            is_dir = s_isdir(pstat(path).st_mode)
        except FileNotFoundError:
            is_dir = False
        here = path if is_dir else (path.rpartition("/")[0] or ("/" if path.startswith("/") else "."))
        st = pstat(here)
        for _ in range(256):
            if (st.st_dev, st.st_ino) == work_id:
                return True
            here += "/.."
            up = pstat(here)
            if (up.st_dev, up.st_ino) == (st.st_dev, st.st_ino):
                return False  # reached /
            st = up
        return False

    def safe_path(path):
        try:
            return inside_workdir(path)
        except OSError:
            return False

    def as_text(path):
        """Audit events carry paths already converted by os.fspath: str, bytes or an fd."""
        if type(path) is bytes:
            return path.decode(encoding, "surrogateescape")
        if type(path) is not str:
            raise PermissionError(f"sandbox: unexpected path {type(path).__name__}")
        return path

    def check_open(path, mode, flags):
        if type(path) is int:
            return
        path = as_text(path)
        try:
            st = pstat(path)
        except OSError:
            st = None
        if st is not None and (st.st_dev == proc_dev or s_isdir(st.st_mode)):
            raise PermissionError(f"sandbox: opening {path!r} is not allowed")
        device = st is not None and s_ischr(st.st_mode)
        if device and st.st_rdev not in devices:
            raise PermissionError(f"sandbox: opening device {path!r} is not allowed")
        writing = (flags or 0) & write_flags or any(c in (mode or "") for c in "wax+")
        if strict and writing and not device and not safe_path(path):
            raise PermissionError(f"sandbox: writing {path!r} outside the working directory")

    def guard(event, args):
        if event in denied:
            # ValueError is what typing, enum and collections expect when frames are unavailable.
            raise ValueError(f"sandbox: {event} is not allowed")
        if event == "object.__getattr__" and args[1] in frames:
            raise AttributeError(f"sandbox: {args[1]} is not available")
        if event == "import" and args[0].partition(".")[0] in modules:
            raise ImportError(f"sandbox: module {args[0]} is not available")
        if event.startswith("ctypes."):
            raise RuntimeError("sandbox: ctypes is not available")
        if event == "open":
            check_open(*args[:3])
        elif strict and event in mutations:
            path_at, dir_fd_at = mutations[event]
            paths = [as_text(args[i]) for i in path_at if type(args[i]) is not int]
            if any(args[i] not in no_dir_fd for i in dir_fd_at) or not all(safe_path(p) for p in paths):
                raise PermissionError(f"sandbox: {event} outside the working directory")

    sys.addaudithook(guard)


def run_untrusted(program, tests, token, token_fd):
    """Exec the program, then the tests, in one process; the token is written only on success.

    What runs once candidate code has run uses this module's private builtins and locals
    bound here (not os.write looked up later), so patching builtins, modules or this
    harness cannot change it. The tests get the program's names (except those shadowing
    builtins) and their own copy of the pristine builtins.
    """
    import builtins

    builtins.exit = builtins.quit = sys.exit  # what `site` would add: programs may call exit()
    _write, _exit = os.write, os._exit
    pristine = dict(vars(builtins))
    modules, module_snapshot = sys.modules, list(sys.modules.items())
    secret = (token + "\n").encode()
    del token
    try:
        program_code = compile(program, "<program>", "exec")
        tests_code = compile(tests, "<tests>", "exec")
    except SyntaxError as e:
        _write(token_fd, json.dumps({"status": "error", "detail": f"SyntaxError: {e}"[:300]}).encode() + b"\n")
        _exit(1)
    stage, namespace = "program", {"__name__": "__candidate__", "__builtins__": builtins}
    try:
        exec(program_code, namespace)
        stage = "tests"
        for name, module in module_snapshot:
            modules[name] = module
        test_namespace = {k: v for k, v in namespace.items() if k not in pristine}
        test_namespace.update(__name__="__tests__", __builtins__=dict(pristine))
        exec(tests_code, test_namespace)
    except BaseException as e:
        try:
            kind = type(e).__name__
            if isinstance(e, MemoryError):
                status = "memory"
            elif stage == "tests" and isinstance(e, Exception):
                status = "failed"
            else:
                status = "error"
            where = e.__traceback__.tb_next if e.__traceback__ is not None else None
            line = f" ({stage} line {where.tb_lineno})" if where is not None else ""
            message = str(e)
            if isinstance(e, SystemExit):
                detail = f"exit({e.code!r}) during the {stage}, before the tests finished"
            else:
                detail = f"{kind}{line}: {message}" if message else f"{kind}{line}"
            report = json.dumps({"status": status, "detail": detail[:300]}).encode() + b"\n"
        except BaseException:
            report = b'{"status": "error", "detail": "unprintable exception"}\n'
        _write(token_fd, report)
        _exit(1)
    _write(token_fd, secret)
    _exit(0)
