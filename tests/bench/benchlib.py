# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the benchmarks (python3 standard library only).

- Cgroup: a CPU-accounting group a server is started in, so that forked or threaded servers
  (tftpd-hpa forks per transfer, atftpd uses threads) are charged in full: cgroup v2, or v1
  cpuacct, or /proc/<pid>/stat (utime+stime+cutime+cstime) as the last resort.
- NetnsPair: two network namespaces joined by a veth pair (server 10.77.0.1, client 10.77.0.2),
  removed on exit. Benchmarks send traffic only there or to loopback.
- spawn(): start a server pinned to a CPU inside a Cgroup (optionally in a namespace).
- peak_rss_kib(), table(), median(), percentile(), pin(), wait_port(), which().
"""

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

BENCH_CPU = int(os.environ.get('PX_BENCH_CPU', '1' if (os.cpu_count() or 1) > 1 else '0'))


def require_root():
    if os.geteuid() != 0:
        print('benchmark: run as root (network namespaces, cgroups)', file=sys.stderr)
        sys.exit(77)


def pin(cpu=None):
    """Pin the calling process (and what it starts afterwards) to one CPU."""
    os.sched_setaffinity(0, {BENCH_CPU if cpu is None else cpu})


def median(values):
    return statistics.median(values) if values else float('nan')


def percentile(values, p):
    if not values:
        return float('nan')
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def table(headers, rows, title=None):
    """Print a Markdown table (the README copies these)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]
    if title:
        print(f'\n### {title}\n')
    print('| ' + ' | '.join(str(h).ljust(w) for h, w in zip(headers, widths)) + ' |')
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for r in cells:
        print('| ' + ' | '.join(c.ljust(w) for c, w in zip(r, widths)) + ' |')
    sys.stdout.flush()


class Cgroup:
    """CPU accounting for a process tree. with Cgroup('name') as cg: ...; cg.cpu_seconds()."""

    def __init__(self, name):
        self.name = f'pxbench-{name}-{os.getpid()}'
        self.path = None
        self.kind = None
        self.pids = []
        v2 = '/sys/fs/cgroup'
        if os.path.exists(os.path.join(v2, 'cgroup.controllers')):
            self.path, self.kind = os.path.join(v2, self.name), 'v2'
        elif os.path.isdir('/sys/fs/cgroup/cpuacct'):
            self.path, self.kind = os.path.join('/sys/fs/cgroup/cpuacct', self.name), 'v1'
        if self.path:
            try:
                os.mkdir(self.path)
            except OSError:
                self.path, self.kind = None, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    def preexec(self):
        """For subprocess preexec_fn: move the child into the group before it execs."""
        if self.path:
            with open(os.path.join(self.path, 'cgroup.procs'), 'w') as f:
                f.write(str(os.getpid()))

    def add(self, pid):
        self.pids.append(pid)

    def cpu_seconds(self):
        if self.kind == 'v2':
            with open(os.path.join(self.path, 'cpu.stat')) as f:
                for line in f:
                    k, v = line.split()
                    if k == 'usage_usec':
                        return int(v) / 1e6
        if self.kind == 'v1':
            with open(os.path.join(self.path, 'cpuacct.usage')) as f:
                return int(f.read()) / 1e9
        total = 0.0
        tick = os.sysconf('SC_CLK_TCK')
        for pid in self.pids:
            try:
                with open(f'/proc/{pid}/stat') as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                total += sum(int(x) for x in fields[11:15]) / tick
            except OSError:
                pass
        return total

    def remove(self):
        if not self.path:
            return
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)  # processes still exiting


def spawn(argv, cgroup=None, netns=None, cpu=None, stdout=None, stderr=None, env=None):
    """Start a server pinned to one CPU, inside cgroup, optionally in a network namespace."""
    if netns:
        argv = ['ip', 'netns', 'exec', netns] + list(argv)
    want_cpu = BENCH_CPU if cpu is None else cpu

    def pre():
        os.sched_setaffinity(0, {want_cpu})
        if cgroup:
            cgroup.preexec()
        os.setsid()

    p = subprocess.Popen(argv, preexec_fn=pre, stdout=stdout or subprocess.DEVNULL,
                         stderr=stderr or subprocess.DEVNULL, env=env)
    if cgroup:
        cgroup.add(p.pid)
    return p


def stop(p, timeout=5):
    if p is None or p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except OSError:
        p.terminate()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            p.kill()
        p.wait()


def peak_rss_kib(pid):
    """VmHWM of pid (KiB), or 0 when it is gone."""
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_port(host, port, proto='tcp', timeout=10.0):
    """Wait until something listens on host:port (TCP connect, or a bound UDP port in ss)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proto == 'tcp':
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        else:
            out = subprocess.run(['ss', '-Hlun', f'sport = :{port}'], capture_output=True, text=True).stdout
            if out.strip():
                return True
            time.sleep(0.05)
    return False


class NetnsPair:
    """Two namespaces and a veth pair: server side SERVER_IP, client side CLIENT_IP (/24)."""

    SERVER_IP = '10.77.0.1'
    CLIENT_IP = '10.77.0.2'

    def __init__(self, tag='b'):
        suffix = f'{tag}{os.getpid() % 100000}'
        self.server = f'pxb-s-{suffix}'
        self.client = f'pxb-c-{suffix}'
        self.server_if = 'veth-s'
        self.client_if = 'veth-c'

    def __enter__(self):
        run = lambda *a: subprocess.run(a, check=True)
        run('ip', 'netns', 'add', self.server)
        run('ip', 'netns', 'add', self.client)
        run('ip', 'link', 'add', self.server_if, 'netns', self.server, 'type', 'veth',
            'peer', 'name', self.client_if, 'netns', self.client)
        for ns, ifname, addr in ((self.server, self.server_if, self.SERVER_IP),
                                 (self.client, self.client_if, self.CLIENT_IP)):
            run('ip', '-n', ns, 'addr', 'add', f'{addr}/24', 'dev', ifname)
            run('ip', '-n', ns, 'link', 'set', ifname, 'up')
            run('ip', '-n', ns, 'link', 'set', 'lo', 'up')
        return self

    def __exit__(self, *exc):
        for ns in (self.server, self.client):
            out = subprocess.run(['ip', 'netns', 'pids', ns], capture_output=True, text=True).stdout
            for pid in out.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)


def which(*names):
    """First of names found on PATH or as an absolute path, else None."""
    for n in names:
        if os.path.isabs(n) and os.access(n, os.X_OK):
            return n
        p = shutil.which(n)
        if p:
            return p
    return None
