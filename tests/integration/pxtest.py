# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the Python integration tests (test-proxydhcp.py, test-api-dhcp.py, test-api.py,
test-hostile.py): the TAP printer, a temp dir with the daemon (and the fake API) in it, the lab of
two network namespaces joined by a veth pair, and the run loop that always cleans up.

Standard library only. A script imports it after putting its own directory on sys.path (meson runs
the scripts from an unknown working directory):

    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import pxtest

Environment: PIXIECORE (the binary; default <source>/build/src/pixiecore), PX_SOURCE_ROOT,
PXT_SUBNET_X (third octet of the lab's subnet), PXT_KEEP=1 (keep the temp dir).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get('PX_SOURCE_ROOT') or os.path.normpath(os.path.join(HERE, '..', '..'))
PIXIECORE = os.environ.get('PIXIECORE') or os.path.join(SOURCE_ROOT, 'build', 'src', 'pixiecore')
CLIENT = os.path.join(HERE, 'pxe-client.py')
FAKE_API = os.path.join(HERE, 'fake-api.py')
PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable

# the signals that end a run early; the cleanup runs with them ignored
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def scrub_environment():
    """Proxies must not get between the tests and their servers (libsoup and curl honour these),
    and no upstream cache unless a test asks for one (CACHE_DIRECTORY would turn it on)."""
    for v in ('CACHE_DIRECTORY', 'http_proxy', 'https_proxy', 'all_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY',
              'no_proxy', 'NO_PROXY'):
        os.environ.pop(v, None)


def dashed(mac):
    return mac.replace(':', '-')


def opt(reply, code):
    """The payload of DHCP option code in a reply as pxe-client.py reports it, None if absent."""
    for c, h in reply.get('options', []):
        if c == code:
            return bytes.fromhex(h)
    return None


# ---------------------------------------------------------------------------
# TAP
# ---------------------------------------------------------------------------

def out(line):
    """Prints a TAP line; a closed or broken stdout (e.g. piped into head) is ignored so that
    the cleanup still runs."""
    try:
        print(line, flush=True)
    except (OSError, ValueError):
        pass


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = []

    def ok(self, cond, name, detail=None):
        self.n += 1
        if cond:
            out(f'ok {self.n} - {name}')
        else:
            self.failed.append(f'{self.n} - {name}')
            out(f'not ok {self.n} - {name}')
            if detail is not None:
                self.diag(detail)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, f'got {got!r}, want {want!r}')

    def skip(self, name, why):
        self.n += 1
        out(f'ok {self.n} - {name} # SKIP {why}')

    @staticmethod
    def diag(text):
        for line in str(text).splitlines() or ['']:
            out(f'# {line}')

    def finish(self, started):
        """The plan and the summary; returns the exit status."""
        out(f'1..{self.n}')
        self.diag(f'{self.n - len(self.failed)}/{self.n} passed in {time.monotonic() - started:.1f} s')
        for f in self.failed:
            self.diag(f'FAILED: {f}')
        return 1 if self.failed else 0


# one test script is one process: one TAP stream
tap = Tap()


def cannot_run(root=True, tools=('ip',), tools_note='no ip(8)'):
    """Prints the TAP plan of a skipped run and returns 77 when the test cannot run here: not root
    (when it needs namespaces), a tool missing or no pixiecore binary. None otherwise."""
    if root and os.geteuid() != 0:
        out('1..0 # SKIP needs root (network namespaces)')
        return 77
    if not all(shutil.which(t) for t in tools):
        out(f'1..0 # SKIP {tools_note}')
        return 77
    if not os.access(PIXIECORE, os.X_OK):
        out(f'1..0 # SKIP no pixiecore binary at {PIXIECORE} (set PIXIECORE)')
        return 77
    return None


def run(body, bench, tail=2000):
    """Runs body() as the whole test: SIGTERM/SIGINT/SIGHUP end it early, an exception becomes a
    failing TAP line, bench.down() always runs (signals ignored meanwhile), and after a failure the
    last `tail` characters of the daemon log follow. Returns the exit status."""

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in SIGNALS:
        signal.signal(sig, on_signal)
    started = time.monotonic()
    try:
        body()
    except Exception as e:  # report, then clean up
        tap.ok(False, f'test harness: {type(e).__name__}: {e}')
        tap.diag(traceback.format_exc())
    finally:
        # cleanup before anything else can go wrong
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        log_tail = bench.log_text()[-tail:] if tap.failed else None
        bench.down()
        if log_tail:
            tap.diag('last daemon log tail:\n' + log_tail)
    return tap.finish(started)


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

def stop_process(p):
    """SIGTERM, bounded wait, SIGKILL. Returns the exit status."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    return p.returncode


def in_netns(netns, argv):
    """argv run inside the network namespace netns (ip netns exec execs it: same pid), or as it is."""
    return ['ip', 'netns', 'exec', netns, *argv] if netns else list(argv)


class Bench:
    """A temp dir, the daemon started from it and, where a test needs one, the fake API.

    tmp_prefix names the temp dir, made by make_tmp() (not at construction: a skipped run or a
    worker-mode run must not leave one behind). log_name is the daemon log's name in it; {n}
    stands for the number of the run."""

    def __init__(self, tmp_prefix, log_name='pixiecore.log'):
        self.tmp_prefix = tmp_prefix
        self.log_name = log_name
        self.tmp = None
        self.daemon = None
        self.daemon_log = None
        self.daemon_runs = 0
        self.fake = None
        self.fake_port = None

    def make_tmp(self):
        if not self.tmp:
            self.tmp = tempfile.mkdtemp(prefix=self.tmp_prefix)
        return self.tmp

    def path(self, name):
        return os.path.join(self.tmp, name)

    def file(self, name, content):
        """Writes bytes to a file in the temp dir; returns its path."""
        path = self.path(name)
        with open(path, 'wb') as f:
            f.write(content)
        return path

    # -- the daemon ------------------------------------------------------------------------

    def launch_daemon(self, args, netns=None, env=None):
        """Stops a running daemon, starts pixiecore with args (inside netns) with its output in a
        new log, and waits up to 10 s for "Serving" in it. True when it came up."""
        self.stop_daemon()
        self.daemon_runs += 1
        self.daemon_log = self.path(self.log_name.format(n=self.daemon_runs))
        with open(self.daemon_log, 'wb') as log:
            self.daemon = subprocess.Popen(in_netns(netns, [PIXIECORE, *args]), stdout=log, env=env,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.daemon.poll() is None:
            if 'Serving' in self.log_text():
                return True
            time.sleep(0.05)
        return False

    def diag_not_started(self, what='pixiecore', chars=3000):
        tap.diag(f'{what} did not start (rc {self.daemon.poll()}):\n' + self.log_text()[-chars:])

    def log_text(self):
        try:
            with open(self.daemon_log, errors='replace') as f:
                return f.read()
        except (OSError, TypeError):
            return ''

    def alive(self):
        return self.daemon is not None and self.daemon.poll() is None

    def stop_daemon(self):
        """Returns the exit status (None if none was running)."""
        if self.daemon is None:
            return None
        p, self.daemon = self.daemon, None
        return stop_process(p)

    # -- the fake API (fake-api.py) --------------------------------------------------------

    def start_fake(self, config, *extra, netns=None):
        """Starts fake-api.py on 127.0.0.1 (inside netns) with a free port, which it writes to
        fake.port; its log is fake-api.log. Returns the port, None when it did not come up."""
        port_file = self.path('fake.port')
        with open(self.path('fake-api.log'), 'wb') as log:
            self.fake = subprocess.Popen(in_netns(netns, [PYTHON, FAKE_API, '--listen', '127.0.0.1', '--port', '0',
                                                          '--port-file', port_file, '--config', config,
                                                          '--max-time', '20', *extra]),
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.fake.poll() is None:
            try:
                with open(port_file) as f:
                    self.fake_port = int(f.read())
                return self.fake_port
            except (OSError, ValueError):
                time.sleep(0.05)
        return None

    def stop_fake(self):
        if self.fake is None:
            return
        p, self.fake = self.fake, None
        stop_process(p)

    # -- the end ---------------------------------------------------------------------------

    def stop_all(self):
        for stop in (self.stop_daemon, self.stop_fake):
            try:
                stop()
            except Exception:
                pass

    def remove_tmp(self):
        """Removes the temp dir (kept with PXT_KEEP=1)."""
        if not self.tmp:
            pass
        elif os.environ.get('PXT_KEEP') == '1':
            tap.diag(f'kept {self.tmp}')
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def down(self):
        """Stops what runs and removes the temp dir."""
        self.stop_all()
        self.remove_tmp()


class Lab(Bench):
    """Two network namespaces of this test's own, "<ns>-<pid>-srv" and "<ns>-<pid>-cli", joined by
    a veth pair: <subnet>.X.1/24 on veth-s (server side), <subnet>.X.2/24 on veth-c (client side),
    X from PXT_SUBNET_X or derived from the pid. The daemon runs in the server namespace."""

    def __init__(self, ns, subnet, tmp_prefix, log_name='pixiecore.log'):
        super().__init__(tmp_prefix, log_name)
        pid = os.getpid()
        self.x = int(os.environ.get('PXT_SUBNET_X') or pid % 250 + 2)
        self.srv = f'{ns}-{pid}-srv'
        self.cli = f'{ns}-{pid}-cli'
        self.server_ip = f'{subnet}.{self.x}.1'
        self.client_ip = f'{subnet}.{self.x}.2'
        self.namespaces = []

    @staticmethod
    def ip(*args):
        subprocess.run(['ip', *args], check=True, timeout=10, stdout=subprocess.DEVNULL)

    def up(self):
        self.make_tmp()
        existing = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, timeout=10).stdout
        for ns in (self.srv, self.cli):
            if ns in existing.split():
                raise RuntimeError(f'namespace {ns} already exists')
        for ns in (self.srv, self.cli):
            self.ip('netns', 'add', ns)
            self.namespaces.append(ns)
            self.ip('-n', ns, 'link', 'set', 'lo', 'up')
        self.ip('-n', self.srv, 'link', 'add', 'veth-s', 'type', 'veth', 'peer', 'name', 'veth-c', 'netns', self.cli)
        self.ip('-n', self.srv, 'addr', 'add', f'{self.server_ip}/24', 'dev', 'veth-s')
        self.ip('-n', self.cli, 'addr', 'add', f'{self.client_ip}/24', 'dev', 'veth-c')
        self.ip('-n', self.srv, 'link', 'set', 'veth-s', 'up')
        self.ip('-n', self.cli, 'link', 'set', 'veth-c', 'up')
        # both ends up and addressed (no DAD for IPv4; the veth carrier comes at once)
        for _ in range(50):
            o = subprocess.run(['ip', '-n', self.cli, '-o', 'link', 'show', 'veth-c'], capture_output=True,
                               text=True, timeout=10).stdout
            if 'LOWER_UP' in o:
                break
            time.sleep(0.1)

    def down(self):
        """Stops what runs, kills what is left in the namespaces, deletes them and the temp dir."""
        self.stop_all()
        for ns in self.namespaces:
            # anything still running inside our own namespaces was started by this test
            try:
                pids = subprocess.run(['ip', 'netns', 'pids', ns], capture_output=True, text=True,
                                      timeout=10).stdout.split()
            except Exception:
                pids = []
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            try:
                subprocess.run(['ip', 'netns', 'del', ns], timeout=10, stderr=subprocess.DEVNULL)
            except Exception:
                pass
        self.namespaces = []
        self.remove_tmp()

    def launch_daemon(self, args, env=None):
        return super().launch_daemon(args, netns=self.srv, env=env)

    def client(self, *args, timeout=1.0, src_port=68, replies=None, iface=True, match_xid=False):
        """Runs pxe-client.py in the client namespace; returns its JSON result (None on error).
        replies=N stops after N replies (for positive checks); src_port=None leaves the port to
        pxe-client."""
        cmd = ['ip', 'netns', 'exec', self.cli, PYTHON, CLIENT, '--timeout', str(timeout)]
        if src_port is not None:
            cmd += ['--src-port', str(src_port)]
        if iface:
            cmd += ['--iface', 'veth-c']
        if match_xid:
            cmd += ['--match-xid']
        if replies:
            cmd += ['--max-replies', str(replies)]
        cmd += [str(a) for a in args]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 20)
        except subprocess.TimeoutExpired:
            tap.diag(f'pxe-client hung: {cmd}')
            return None
        if p.returncode not in (0, 1) or not p.stdout.strip():
            tap.diag(f'pxe-client failed (rc {p.returncode}): {" ".join(cmd)}\n{p.stderr}')
            return None
        return json.loads(p.stdout)
