"""Trusted side of `multianswer.sandbox`: a warm worker, run as a script, never imported.

`python -I -S -B -u runner.py SOCKET_FD ISOLATION` (a new session, scrubbed environment).
The client keeps one such worker per job it runs at a time. At start the worker preloads
what candidates usually import, enters namespaces of its own (as root, else inside a user
namespace), makes its view of the host read-only once and says on the socket what isolation
it got. Then each message on the socket is a job: the wall-clock limit and four file
descriptors (job stdin, output, token pipe, status pipe). Stdlib only: this file runs
outside the package, before `site`.

Per job the worker unshares fresh mount, network, pid, IPC and UTS namespaces, forks the
*child* into them and steps back into its own (setns), so no process is spent on entering
namespaces. Then:
- the child (pid 1 of its namespace) reads the JSON job (program, tests, secret token,
  limits) from its stdin, mounts its private file system, sets resource limits, drops
  privileges, reports the isolation in force and forks the harness; it stays behind as
  pid 1, reaping, and reports the harness's exit, which is all the client waits for;
- the harness closes the status pipe, installs the audit hook and runs the program and
  the tests (`harness.py`), writing the token only when the tests returned;
- the worker reports the child's pid, enforces the wall-clock limit and, once the child
  and with it the namespace are gone, reports the child's fate. It takes the client's
  next job meanwhile: a namespace's teardown overlaps the next program.
The token comes through stdin, drained and replaced by /dev/null before candidate code
runs, never through argv or the environment; the worker itself never reads a job. The
candidate's processes are not dumpable, so nothing they start can read the harness's memory.
"""

import fcntl
import gc
import importlib.util
import json
import os
import resource
import select
import signal
import socket
import stat
import sys
import time

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 442, -100, 0x8000, 1, 2
NAMESPACES = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
PRIVATE_TMP = "/tmp"  # a fresh tmpfs in the mount namespace: the workdir and the only writable place
MIB = 1 << 20
# Imported by the worker (the audit hook keeps later imports from reading .pyc files) so that
# the usual test and solution imports stay fast. `random` reseeds itself in every forked child.
PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "random",
           "copy", "hashlib", "operator", "fractions", "decimal", "datetime", "statistics")


class Libc:
    """The few libc calls Python's os module lacks (unshare, mount, prctl, capset)."""

    def __init__(self):
        import ctypes

        self.ctypes = ctypes
        self.lib = ctypes.CDLL(None, use_errno=True)

    def call(self, name, *args):
        if getattr(self.lib, name)(*args) != 0:
            err = self.ctypes.get_errno()
            raise OSError(err, f"{name}: {os.strerror(err)}")

    def mount(self, source, target, fstype, flags, data=None):
        enc = lambda s: None if s is None else s.encode()  # noqa: E731
        self.call("mount", enc(source), enc(target), enc(fstype), self.ctypes.c_ulong(flags), enc(data))

    def readonly_tree(self, path):
        """Make every mount under `path` read-only and nosuid (mount_setattr, Linux >= 5.12)."""
        attr = (self.ctypes.c_uint64 * 4)(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
        args = (SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), AT_RECURSIVE, attr, self.ctypes.sizeof(attr))
        if self.lib.syscall(*[self.ctypes.c_long(a) if isinstance(a, int) else a for a in args]) != 0:
            raise OSError(self.ctypes.get_errno(), "mount_setattr")

    def drop_capabilities(self):
        header = (self.ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
        self.call("capset", header, (self.ctypes.c_uint32 * 6)())


NAMESPACE_FILES = ((CLONE_NEWNS, "mnt"), (CLONE_NEWNET, "net"), (CLONE_NEWPID, "pid"), (CLONE_NEWIPC, "ipc"),
                   (CLONE_NEWUTS, "uts"))


def enter_namespaces(libc, wanted):
    """Unshare mount/net/pid/ipc/uts namespaces: as root, else inside a user namespace."""
    if wanted == "none":
        return "none"
    if os.geteuid() == 0:
        try:
            libc.call("unshare", NAMESPACES)
            return "root"
        except OSError:
            pass
    uid, gid = os.geteuid(), os.getegid()
    try:
        libc.call("unshare", NAMESPACES | CLONE_NEWUSER)
    except OSError:
        return "none"
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    return "userns"


def become_worker(libc, sock):
    """Fork the worker into the new pid namespace; the launcher waits for it and exits with it.

    The worker has to own the pid namespace it returns to after each job (setns needs
    CAP_SYS_ADMIN over it, which a user namespace only gives over its own).
    """
    worker = os.fork()
    if worker != 0:
        sock.close()  # the worker alone answers the client
        os._exit(os.waitstatus_to_exitcode(os.waitpid(worker, 0)[1]) & 0xFF)
    libc.call("prctl", PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)  # the client stops it by killing the launcher


def readonly_host(libc):
    """Make the worker's mounts private (nothing propagates to the host) and read-only; True if read-only."""
    libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
    try:
        libc.readonly_tree("/")
        return True
    except OSError:
        return False


def private_filesystem(libc, sandbox_uid, facts):
    """A fresh tmpfs on /tmp holding the workdir and a private /proc, over the worker's read-only view."""
    libc.mount("tmpfs", PRIVATE_TMP, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,nr_inodes=4096,mode=1777")
    if os.path.isdir("/dev/shm"):
        libc.mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777")
    try:
        libc.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
        facts["proc"] = "private"
    except OSError:  # a user namespace may not mount proc: hide the host's instead
        libc.mount("tmpfs", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k")
        facts["proc"] = "hidden"
    if sandbox_uid is not None and not world_traversable(sys.base_prefix):
        # The interpreter lives where the sandbox uid may not look (/root/.pyenv): bind it read-only.
        target = os.path.join(PRIVATE_TMP, ".python")
        os.mkdir(target, 0o755)
        libc.mount(sys.base_prefix, target, None, MS_BIND | MS_REC)
        libc.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
        sys.path[:] = [target + p[len(sys.base_prefix):] if p.startswith(sys.base_prefix) else p for p in sys.path]
    workdir = os.path.join(PRIVATE_TMP, "work")
    os.mkdir(workdir, 0o700)
    if sandbox_uid is not None:
        os.chown(workdir, sandbox_uid, sandbox_uid)
    return workdir


def world_traversable(path):
    """True when every directory on `path` lets other users through (o+x)."""
    parts = os.path.abspath(path).split("/")
    return all(os.stat("/" + "/".join(parts[1:i + 1])).st_mode & stat.S_IXOTH for i in range(len(parts)))


def set_limits(job, mode):
    """CPU, memory, file size, open files, processes (only where counted for this sandbox alone)."""
    cpu = int(job["timeout_s"]) + 1
    limits = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_AS, job["memory_mb"] * MIB, job["memory_mb"] * MIB),
        (resource.RLIMIT_FSIZE, job["file_mb"] * MIB, job["file_mb"] * MIB),
        (resource.RLIMIT_NOFILE, 256, 256),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if mode != "none":  # a private uid or user namespace: the count is this sandbox's own
        limits.append((resource.RLIMIT_NPROC, job["max_processes"], job["max_processes"]))
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized writes raise OSError instead


def child(libc, harness, job, worker_facts, token_fd, status_fd):
    """Set up the sandbox in the forked child, then run the candidate; never returns."""
    mode = worker_facts["mode"]
    facts = {"mode": mode, "network": "isolated" if mode != "none" else "host",
             "readonly_root": worker_facts["readonly_root"]}
    sandbox_uid = None
    if mode == "root":
        sandbox_uid = int.from_bytes(os.urandom(4), "little") % (1 << 30) + (1 << 20)
    if mode != "none":
        workdir = private_filesystem(libc, sandbox_uid, facts)
    else:
        workdir = job["workdir"]
    os.chdir(workdir)
    os.environ.update(HOME=workdir, TMPDIR=workdir)
    set_limits(job, mode)
    if sandbox_uid is not None:
        os.setgroups([])
        os.setresgid(sandbox_uid, sandbox_uid, sandbox_uid)
        os.setresuid(sandbox_uid, sandbox_uid, sandbox_uid)
        facts["uid"] = "private"
    else:
        facts["uid"] = "same as caller"
    libc.call("prctl", PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)  # after setuid, which clears it
    libc.call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.call("prctl", PR_SET_DUMPABLE, 0, 0, 0, 0)
    if mode == "userns":
        libc.drop_capabilities()
    facts["processes"] = "pid namespace" if mode != "none" else "blocked by audit hook"
    os.write(status_fd, json.dumps({"isolation": facts}).encode() + b"\n")
    if mode != "none":
        init_of_namespace(status_fd)
    os.close(status_fd)
    del libc
    for name in [m for m in sys.modules if m == "_ctypes" or m.partition(".")[0] == "ctypes"]:
        del sys.modules[name]
    sys.pycache_prefix = "/proc/no-pycache"  # nobody can create it: imports compile from source, marshal stays off
    # Without namespaces, or without a read-only host, the hook has to stand in for them.
    harness.install_guard(workdir, strict=mode == "none" or not facts["readonly_root"])
    harness.run_untrusted(job["program"], job["tests"], job["token"], token_fd)


def init_of_namespace(status_fd):
    """Fork the harness; stay behind as pid 1, reaping orphans until it ends, then report its exit.

    The harness is not pid 1 itself so that signals it sends itself act as usual; pid 1
    ignores them. When pid 1 exits, the kernel kills everything left in the namespace.
    Its report ends the client's wait: the namespace is torn down while the next job runs.
    """
    harness = os.fork()
    if harness == 0:
        return
    for fd in (1, 2, 3):  # output and token pipes end with the harness (and whatever it left running)
        os.close(fd)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # pid 1 ignores what it does not handle
    while True:
        pid, status = os.wait()
        if pid == harness:
            os.write(status_fd, json.dumps({"harness_exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            os._exit(0)


def watch(pid, timeout_s):
    """A pidfd that becomes readable when `pid` exits; None after polling up to `timeout_s` (Linux < 5.3)."""
    try:
        return os.pidfd_open(pid)
    except OSError:
        deadline = time.monotonic() + timeout_s
        while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return None


def finish_job(pid, status_fd, timed_out):
    """Reap the child (killed first if it ran out of time) and report its fate."""
    if timed_out:
        os.kill(pid, signal.SIGKILL)  # as pid 1 of its namespace, its death takes every descendant
    fate = {"timeout": timed_out, "exit": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}
    try:
        os.killpg(pid, signal.SIGKILL)  # whatever is left of its process group (with namespaces: nothing)
    except OSError:
        pass
    report(status_fd, fate)
    os.close(status_fd)


def report(status_fd, message):
    """One JSON line on the status pipe, unless the client stopped listening (it may, once it has its answer)."""
    try:
        os.write(status_fd, json.dumps(message).encode() + b"\n")
    except OSError:
        pass


def start_child(libc, home, mode):
    """Fork the child into fresh namespaces (the worker's own are restored at once); its pid, 0 in it."""
    if mode == "none":
        return os.fork()
    libc.call("unshare", NAMESPACES)
    pid = os.fork()
    if pid != 0:
        for flag, fd in home.items():
            libc.call("setns", fd, flag)
    return pid


def run_child(libc, harness, worker_facts, fds):
    """In the forked child: place the job's descriptors at 0-4, read the job, run it; never returns."""
    try:
        os.setsid()  # its own process group, for the worker to kill at the end
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 16) for fd in fds]  # clear of 0..4 before placing them
        for target, fd in zip((0, 1, 3, 4), high):
            os.dup2(fd, target)
        os.dup2(1, 2)
        os.closerange(5, 1 << 16)  # the worker's socket and namespace handles among them
        chunks = []
        while chunk := os.read(0, 1 << 20):
            chunks.append(chunk)
        job = json.loads(b"".join(chunks))
        del chunks
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        child(libc, harness, job, worker_facts, 3, 4)
    except BaseException as e:  # a setup failure: say so on the trusted channel
        try:
            os.write(4, json.dumps({"setup_error": f"{type(e).__name__}: {e}"}).encode() + b"\n")
        finally:
            os._exit(70)
    os._exit(70)  # not reached: the harness always exits itself


def start_job(libc, harness, home, worker_facts, fds):
    """Fork the job's child and report its pid; returns the pid (in the worker)."""
    try:
        pid = start_child(libc, home, worker_facts["mode"])
    except OSError as e:
        report(fds[3], {"setup_error": f"{type(e).__name__}: {e}"})
        os._exit(70)  # possibly still inside a job's namespaces: never serve another job from there
    if pid == 0:
        run_child(libc, harness, worker_facts, fds)
    for fd in fds[:3]:
        os.close(fd)
    report(fds[3], {"child": pid})
    return pid


def serve(sock_fd, isolation):
    """Prepare the worker, say what isolation it has, then run the client's jobs until it leaves."""
    for name in PRELOAD:
        __import__(name)
    libc = Libc()
    path = os.path.join(os.path.dirname(__file__), "harness.py")
    spec = importlib.util.spec_from_file_location("sandbox_harness", path)
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    sock = socket.socket(fileno=sock_fd)
    facts = {"mode": enter_namespaces(libc, isolation), "readonly_root": False}
    home = {}
    if facts["mode"] != "none":
        become_worker(libc, sock)
        facts["readonly_root"] = readonly_host(libc)
        home = {flag: os.open(f"/proc/self/ns/{name}", os.O_RDONLY | os.O_CLOEXEC) for flag, name in NAMESPACE_FILES}
    sock.send(json.dumps(facts).encode())
    gc.freeze()  # the children's collections leave the worker's objects alone: fewer pages copied per job
    running = {}  # pidfd -> (child pid, deadline, status fd): the job in progress, and ones still ending
    while True:
        deadlines = [deadline for _, deadline, _ in running.values()]
        wait = max(min(deadlines) - time.monotonic(), 0) if deadlines else None
        ready = select.select([sock, *running], [], [], wait)[0]
        for pidfd in [fd for fd, job in running.items() if fd in ready or job[1] <= time.monotonic()]:
            pid, _, status_fd = running.pop(pidfd)
            os.close(pidfd)
            finish_job(pid, status_fd, timed_out=pidfd not in ready)
        if sock not in ready:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1024, 4)
        except (OSError, ValueError):
            return
        if not message or len(fds) != 4:  # the client closed the socket
            return
        timeout_s = json.loads(message)["timeout_s"]
        pid = start_job(libc, harness, home, facts, fds)
        pidfd = watch(pid, timeout_s)
        if pidfd is None:
            finish_job(pid, fds[3], timed_out=os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None)
        else:
            running[pidfd] = (pid, time.monotonic() + timeout_s, fds[3])


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
