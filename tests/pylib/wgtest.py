"""Plumbing shared by the Python test scripts in tests/ (standard library only).

- `Server`: starts `wangge serve`, finds its address in the line it prints
  when it listens, prints its log when it does not come up, stops it.
- `rss_kib`, `fd_targets`: what the server process holds, read from /proc.
- `RawConn`: a small HTTP/1.1 client on a raw non-blocking socket, driven by
  asyncio, that can also misbehave (send half a request, stall, never read)
  and tell whether the server closed the connection (TCP_INFO state), with a
  timeout on every operation.
- `KeepAlive`: requests one after the other on one reused `RawConn`, as an
  ordinary HTTP client sends them.
- `Tally`: counts requests and responses and checks every error response the
  way the server promises to send them (JSON with "error" and "message").
- `Checks`: named checks and the closing line `<label>: N passed, M failed`.
"""

import asyncio
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

SERVING = re.compile(r"wangge serving .* at http://([0-9.]+):(\d+)/")
LOOPBACK = "127.0.0.1"  # the only address the scripts start a server on or connect to
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def now():
    return time.monotonic()


# ---------------------------------------------------------------- the server


class Server:
    """One `wangge serve` process with its log (stdout and stderr) in a file."""

    def __init__(self, argv, log_path, env=None):
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.proc = None
        self.log_from = 0
        self.host = None
        self.port = None

    @property
    def pid(self):
        return self.proc.pid

    @property
    def base(self):
        return f"http://{self.host}:{self.port}"

    def start(self, timeout=60.0):
        """Starts the server and waits for its `wangge serving ... at` line.
        Returns True when it listens; otherwise prints why and its log."""
        with open(self.log_path, "ab") as log:
            log.write(f"==== {' '.join(self.argv)}\n".encode())
            log.flush()
            self.log_from = log.tell()  # this run's lines start here
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=self.env)
        deadline = now() + timeout
        while now() < deadline:
            m = SERVING.search(self.log_text(self.log_from))
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                if self.host != LOOPBACK:
                    print(f"server listens on {self.host}, not {LOOPBACK} (pass --bind {LOOPBACK}): stopped")
                    self.kill()
                    return False
                return True
            if self.proc.poll() is not None:
                print(f"server exited with status {self.proc.returncode} before listening; its log:")
                print(self.log_tail(80))
                return False
            time.sleep(0.05)
        print(f"server printed no 'wangge serving' line within {timeout:.0f} s; its log:")
        print(self.log_tail(80))
        self.kill()
        return False

    def log_text(self, offset=0):
        """The log (from byte `offset`), without terminal colour codes."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return ANSI.sub("", f.read().decode("utf-8", "replace"))
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        """The last `lines` lines this run of the server wrote."""
        return "\n".join(self.log_text(self.log_from).splitlines()[-lines:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """The exit status, or None if it is still running after `timeout` s."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.wait(10)

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after `timeout` s; returns the exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
            rc = self.proc.returncode
        return rc


def start_server(argv, log_path, tries=2, timeout=60.0, env=None):
    """Starts `argv` (a `wangge serve` command line), retrying once if it does
    not come up; returns the Server, or None (its log was printed)."""
    for attempt in range(1, tries + 1):
        s = Server(argv, log_path, env)
        if s.start(timeout):
            return s
        if attempt < tries:
            print(f"retrying the server start ({attempt + 1} of {tries})")
            time.sleep(1.0)
    return None


def serve_flags(binary):
    """The long options that `wangge serve --help` lists."""
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=30)
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", out.stdout))


def rss_kib(pid):
    """Resident set size of `pid` in KiB (VmRSS), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def fd_targets(pid):
    """What each open file descriptor of `pid` points to (readlink of /proc/PID/fd/*)."""
    out = []
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for n in names:
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{n}"))
        except OSError:
            pass
    return out


def tcp_table():
    """The IPv4 TCP sockets of this machine: {(local port, remote port): (state, inode)}."""
    table = {}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                p = line.split()
                table[(int(p[1].rsplit(":", 1)[1], 16), int(p[2].rsplit(":", 1)[1], 16))] = (int(p[3], 16), p[9])
    except OSError:
        pass
    return table


def server_holds(table, server_port, conn):
    """Whether the server still holds its end of `conn` open (ESTABLISHED and
    owned by a process) in a `tcp_table()` snapshot. Unlike our end's state,
    this sees a close while unsent data still sits in the server's buffers."""
    entry = table.get((server_port, conn.local_port))
    return entry is not None and entry[0] == 1 and entry[1] != "0"


async def server_lets_go(server_port, conns, seconds, until_all=True, period=0.25):
    """Watches the server's end of each of `conns` in /proc/net/tcp for up to
    `seconds` (or until it let go of all, if `until_all`); returns {index in
    `conns`: seconds until the server no longer held it}. A connection counts
    as let go only once it was seen held, or once our own end sees it closed:
    an empty or unreadable table proves nothing."""
    t0 = now()
    let_go, seen = {}, set()
    while True:
        table = tcp_table()
        for i, conn in enumerate(conns):
            if i in let_go:
                continue
            if server_holds(table, server_port, conn):
                seen.add(i)
            elif i in seen or conn.server_closed():
                let_go[i] = now() - t0
        if (until_all and len(let_go) == len(conns)) or now() - t0 >= seconds:
            return let_go
        await asyncio.sleep(period)


def raise_fd_limit(want):
    """Raises this process's soft RLIMIT_NOFILE towards `want` (children
    inherit it); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class RssMonitor(threading.Thread):
    """Samples the server's VmRSS every `period` s, tagged with the current phase."""

    def __init__(self, pid, period=0.2):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.phase = "start"
        self.samples = []  # (monotonic time, phase, KiB)
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            kib = rss_kib(self.pid)
            if kib is None:
                return
            self.samples.append((now(), self.phase, kib))
            self.halt.wait(self.period)

    def peak_kib(self, phase=None):
        vals = [k for _, p, k in self.samples if phase is None or p == phase]
        return max(vals) if vals else 0

    def between(self, t0, t1):
        return [k for t, _, k in self.samples if t0 <= t <= t1]

    def latest_kib(self):
        return self.samples[-1][2] if self.samples else 0


def mean(values):
    return sum(values) / len(values) if values else 0


# ------------------------------------------------------------ HTTP, raw sockets


class Closed(Exception):
    """The server closed the connection (EOF or reset) before the bytes we waited for."""


class BadResponse(Exception):
    """Bytes from the server that are not an HTTP/1.1 response."""


TCP_CLOSED_STATES = {6, 7, 8, 9, 11}  # TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, CLOSING


class Resp:
    """A response: status, headers, the first `keep` bytes of the body and its
    last 4 KiB, its length, and whether it was received to its end."""

    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.headers = []
        self.body = bytearray()
        self.tail = b""
        self.length = 0
        self.complete = False
        self.keep = 0
        self.seconds = 0.0

    def header(self, name):
        name = name.lower()
        val = None
        for k, v in self.headers:
            if k == name:
                val = v
        return val

    def add(self, piece):
        self.length += len(piece)
        room = self.keep - len(self.body)
        if room > 0:
            self.body += piece[:room]
        self.tail = (self.tail + bytes(piece[-4096:]))[-4096:]

    def json(self):
        try:
            return json.loads(bytes(self.body))
        except ValueError:
            return None

    def __repr__(self):
        return f"<{self.status} {len(self.body)}/{self.length} bytes>"


def request(method, path, headers=(), body=b"", host="127.0.0.1", version="HTTP/1.1"):
    """The bytes of one request; adds Host (unless given) and, with a body, Content-Length."""
    names = {h.split(":", 1)[0].strip().lower() for h in headers}
    lines = [f"{method} {path} {version}"] + ([] if "host" in names else [f"Host: {host}"])
    lines += list(headers)
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


class RawConn:
    """One TCP connection to the server, every operation bounded in time."""

    def __init__(self, sock):
        self.sock = sock
        self.fd = sock.fileno()
        self.local_port = sock.getsockname()[1]
        self.buf = bytearray()
        self.eof = False
        self.reset = False
        self.sent = 0

    @classmethod
    async def open(cls, host, port, timeout=5.0, rcvbuf=None):
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    async def _wait(self, writable, timeout):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def ready():
            if not fut.done():
                fut.set_result(None)

        (loop.add_writer if writable else loop.add_reader)(self.fd, ready)
        try:
            await asyncio.wait_for(fut, max(timeout, 0.0))
        finally:
            (loop.remove_writer if writable else loop.remove_reader)(self.fd)

    async def send(self, data, timeout=5.0):
        """Sends all of `data` within `timeout` s. Raises TimeoutError (what was
        sent is counted in self.sent), or Closed if the server went away."""
        view = memoryview(data)
        deadline = now() + timeout
        while view:
            try:
                n = self.sock.send(view[:1 << 18])
            except BlockingIOError:
                await self._wait(True, deadline - now())
                continue
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as e:
                self.reset = True
                raise Closed(str(e)) from None
            self.sent += n
            view = view[n:]

    async def recv(self, timeout, n=1 << 18):
        """Some bytes (b"" at EOF or reset) within `timeout` s, else TimeoutError."""
        deadline = now() + timeout
        while True:
            try:
                data = self.sock.recv(n)
            except BlockingIOError:
                await self._wait(False, deadline - now())
                continue
            except (ConnectionResetError, ConnectionAbortedError):
                self.reset = True
                return b""
            if not data:
                self.eof = True
            return data

    async def _fill(self, deadline):
        data = await self.recv(deadline - now())
        if not data:
            raise Closed("reset" if self.reset else "eof")
        self.buf += data

    async def _until(self, sep, deadline, limit):
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise BadResponse(f"no {sep!r} within {limit} bytes")
            start = max(0, len(self.buf) - len(sep))
            await self._fill(deadline)

    async def _exact(self, n, resp, deadline):
        while n > 0:
            if not self.buf:
                await self._fill(deadline)
            take = min(n, len(self.buf))
            resp.add(self.buf[:take])
            del self.buf[:take]
            n -= take

    async def read_response(self, method="GET", timeout=5.0, keep=1 << 20):
        """Reads one response (skipping 1xx interim ones) within `timeout` s.
        Raises Closed if the connection ends before a status line, TimeoutError."""
        t0 = now()
        deadline = t0 + timeout
        while True:
            resp = Resp()
            resp.keep = keep
            try:
                head = await self._until(b"\r\n\r\n", deadline, 1 << 20)
            except Closed:
                if self.buf:
                    raise BadResponse(f"connection closed inside a response head: {bytes(self.buf[:80])!r}")
                raise
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise BadResponse(f"not a status line: {lines[0][:80]!r}")
            resp.version, resp.status = parts[0], int(parts[1])
            resp.reason = parts[2] if len(parts) > 2 else ""
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    resp.headers.append((k.strip().lower(), v.strip()))
            if 100 <= resp.status < 200 and resp.status != 101:
                continue
            break
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if method == "HEAD" or resp.status in (204, 304) or resp.status < 200:
            resp.complete = True
        elif "chunked" in te:
            while True:
                line = await self._until(b"\r\n", deadline, 4096)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BadResponse(f"bad chunk size line {line[:40]!r}") from None
                if size == 0:
                    while (await self._until(b"\r\n", deadline, 1 << 16)) != b"\r\n":
                        pass
                    break
                await self._exact(size, resp, deadline)
                if await self._until(b"\r\n", deadline, 2) != b"\r\n":
                    raise BadResponse("chunk not followed by CRLF")
            resp.complete = True
        elif cl is not None:
            await self._exact(int(cl), resp, deadline)
            resp.complete = True
        else:  # delimited by the end of the connection
            try:
                while True:
                    if self.buf:
                        resp.add(self.buf)
                        self.buf.clear()
                    await self._fill(deadline)
            except Closed:
                resp.complete = not self.reset
        resp.seconds = now() - t0
        return resp

    def server_closed(self):
        """True once the server has closed or reset the connection, whether or
        not we have read what it sent before (the TCP state of our end)."""
        if self.eof or self.reset:
            return True
        try:
            state = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
        except OSError:
            return True
        return state in TCP_CLOSED_STATES

    async def wait_closed(self, timeout, drain=True):
        """Waits up to `timeout` s for the server to close the connection,
        reading what it sends if `drain` (the first 64 KiB stay in self.buf,
        e.g. an error response, the rest is dropped). True if it closed."""
        deadline = now() + timeout
        while now() < deadline:
            if self.server_closed() and not drain:
                return True
            if drain:
                try:
                    data = await self.recv(min(0.25, max(deadline - now(), 0.0)))
                except TimeoutError:
                    continue
                if not data:
                    return True
                room = (1 << 16) - len(self.buf)
                if room > 0:
                    self.buf += data[:room]
            else:
                await asyncio.sleep(min(0.1, max(deadline - now(), 0.0)))
        return self.server_closed()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class KeepAlive:
    """Requests one after the other on one keep-alive connection, opened by
    `opener` (an async callable returning a RawConn) when there is none and
    dropped when the server closes it, answers `Connection: close` or an answer
    ends early. A request that finds a reused connection closed by the server
    is sent once more on a new one, as HTTP clients do; every other failure
    (Closed on a new connection, BadResponse, OSError, TimeoutError) is raised."""

    ERRORS = (Closed, BadResponse, OSError, TimeoutError)

    def __init__(self, opener):
        self.opener = opener
        self.conn = None
        self.connects = 0
        self.retries = 0

    async def ask(self, raw, method="GET", timeout=5.0, keep=1 << 20):
        """Sends `raw`, returns its Resp; each of send and read within `timeout` s."""
        for attempt in (1, 2):
            reused = self.conn is not None
            try:
                if self.conn is None:
                    self.conn = await self.opener()
                    self.connects += 1
                await self.conn.send(raw, timeout)
                resp = await self.conn.read_response(method, timeout=timeout, keep=keep)
            except self.ERRORS as e:
                self.close()
                if attempt == 1 and reused and isinstance(e, Closed):
                    self.retries += 1
                    continue
                raise
            if not resp.complete or (resp.header("connection") or "").lower() == "close":
                self.close()
            return resp

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ------------------------------------------------------------ counting, checks


class Tally:
    """Requests sent and responses seen by every client of a run, with the
    promises every response must keep (thread-safe)."""

    def __init__(self, allowed_5xx=(503,)):
        self.lock = threading.Lock()
        self.sent = 0
        self.classes = Counter()
        self.statuses = Counter()
        self.allowed_5xx = set(allowed_5xx)
        self.bad_error_body = []
        self.no_request_id_header = []
        self.no_request_id_statuses = Counter()
        self.no_request_id_body = []
        self.bad_5xx = []
        self.no_retry_after = []

    def request(self, n=1):
        with self.lock:
            self.sent += n

    def response(self, resp, what, allow_5xx=()):
        """Records `resp` (to the request described by `what`), noting each
        promise it breaks."""
        with self.lock:
            self.classes[f"{resp.status // 100}xx"] += 1
            self.statuses[resp.status] += 1
            if not resp.header("x-request-id"):
                _note(self.no_request_id_header, what, resp)
                self.no_request_id_statuses[resp.status] += 1
            if resp.status >= 400:
                ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
                doc = resp.json() if resp.length <= resp.keep else None
                if ctype != "application/json" or not isinstance(doc, dict) \
                        or not isinstance(doc.get("error"), str) or not isinstance(doc.get("message"), str):
                    _note(self.bad_error_body, what, resp)
                elif not isinstance(doc.get("request_id"), str):
                    _note(self.no_request_id_body, what, resp)
            if resp.status >= 500 and resp.status not in self.allowed_5xx | set(allow_5xx):
                _note(self.bad_5xx, what, resp)
            if resp.status == 503 and not resp.header("retry-after"):
                _note(self.no_retry_after, what, resp)

    def total(self):
        return sum(self.classes.values())


def _note(lst, what, resp):
    if len(lst) < 1000:
        body = bytes(resp.body[:160]).decode("utf-8", "replace")
        lst.append(f"{what} -> {resp.status} {resp.header('content-type')!r} {body!r}")


class Checks:
    """Named checks, printed as they are decided, and the closing line."""

    def __init__(self, label):
        self.label = label
        self.passed = 0
        self.failed = []

    def check(self, name, ok, detail="", info=""):
        """Counts and prints one check; `detail` is printed when it fails, `info` always."""
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)
        extra = "; ".join(x for x in (info, "" if ok else detail) if x)
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + extra if extra else ''}", flush=True)
        return ok

    def closing_line(self):
        return f"{self.label}: {self.passed} passed, {len(self.failed)} failed"


def fmt_mib(kib):
    return f"{kib / 1024:.0f} MiB"


def quantile(values, q):
    """The q-quantile (0..1) of `values` (nearest rank); sorts a copy unless already sorted."""
    if not values:
        return 0.0
    s = values if _is_sorted(values) else sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def _is_sorted(values):
    return all(a <= b for a, b in zip(values, values[1:]))


def install_exit_on_signals():
    """SIGTERM and SIGHUP end this script like Ctrl-C, so `finally` blocks stop the server."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def watchdog(seconds, on_fire):
    """Calls `on_fire` and exits the process if the script still runs after `seconds`."""
    def fire():
        print(f"watchdog: still running after {seconds:.0f} s, giving up", flush=True)
        try:
            on_fire()
        finally:
            sys.stdout.flush()
            os._exit(3)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t
