#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""TFTP benchmark (issue 6): pixiecore against dnsmasq, tftpd-hpa and atftpd.

Every server and the load client run on 127.0.0.1 inside a private network namespace that this
script makes with `unshare --net` (dnsmasq's TFTP listens on port 69 only, which must not be
taken on the host); the namespace goes away with the script. Server and client are pinned to the
same CPU (benchlib.BENCH_CPU), as in the reference figures; the server's CPU time comes from a
cgroup (benchlib.Cgroup), which also charges tftpd-hpa's forked children.

The load client is tests/bench/tftp/tftp-load (blksize, windowsize, N concurrent clients, content
verified against the file). All servers run side by side and every point is measured on each of
them in turn (rep 1 on all, rep 2 on all, ...), so that other load on the machine hits them alike;
each figure is the median of --reps runs (3; --quick: 1 and a smaller matrix). Prints Markdown
tables and a final table of the targets with met/missed and ratios.

Usage: bench-tftp.py [--quick] [--reps N] [--servers pixiecore,dnsmasq,tftpd-hpa,atftpd]
                     [--compare NAME=PATH]... [--no-real-clients] [--strict]
  --compare runs another pixiecore binary (e.g. a build of the previous commit) as one more server.
Environment: PIXIECORE, PX_BUILD_ROOT (meson sets both), PX_BENCH_PEERS (atftpd), PX_BENCH_CPU.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import benchlib  # noqa: E402

MIB = 1024 * 1024
# Pixiecore serves bootloaders only, by name: each payload goes in as one of them, and the peers
# serve the same names from a directory.
FILES = {1: 'undionly.kpxe', 4: 'ipxe-ia32.efi', 32: 'ipxe.efi', 128: 'ipxe.pxe'}
PEERS = ['dnsmasq', 'tftpd-hpa', 'atftpd']
WINDOWED = {'pixiecore', 'atftpd'}  # servers that negotiate windowsize (RFC 7440)
# --compare NAME=PATH: further pixiecore binaries (e.g. a baseline build), run like pixiecore
EXTRA_PIXIECORE = {}


def kind(name):
    return 'pixiecore' if name in EXTRA_PIXIECORE else name
LOOP = '127.0.0.1'


def log(msg):
    print(f'bench-tftp: {msg}', file=sys.stderr, flush=True)


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOP, 0))
        return s.getsockname()[1]


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOP, 0))
        return s.getsockname()[1]


class Server:
    """One TFTP server under test, started in its own cgroup."""

    def __init__(self, name, root, tmp):
        self.name = name
        self.root = root
        self.tmp = tmp
        self.proc = None
        self.cg = None
        self.port = None
        self.log = None

    def argv(self):
        root = self.root
        if kind(self.name) == 'pixiecore':
            conf = os.path.join(self.tmp, 'empty.conf')
            with open(conf, 'w') as f:
                f.write('[pixiecore]\n')
            kernel = os.path.join(self.tmp, 'vmlinuz')  # served over HTTP only; never fetched here
            with open(kernel, 'wb') as f:
                f.write(b'not a kernel\n')
            exe = EXTRA_PIXIECORE.get(self.name) or os.environ['PIXIECORE']
            return [exe, '-config', conf, '-listen-addr', LOOP,
                    '-port', str(free_tcp_port()), '-port-dhcp', '0', '-port-pxe', '0',
                    '-port-tftp', str(self.port),
                    '-ipxe-bios', os.path.join(root, FILES[1]),
                    '-ipxe-efi64', os.path.join(root, FILES[32]),
                    '-ipxe-ipxe', os.path.join(root, FILES[128]),
                    '-ipxe-efi32', os.path.join(root, FILES[4]),
                    '-max-tftp-transfers', '256', '-kernel', kernel]
        if self.name == 'dnsmasq':
            return [benchlib.which('dnsmasq', '/usr/sbin/dnsmasq'), '--keep-in-foreground',
                    '--conf-file=/dev/null', '--pid-file=', '--port=0', '--no-resolv', '--no-hosts',
                    '--enable-tftp', f'--tftp-root={root}', f'--listen-address={LOOP}',
                    '--bind-interfaces', '--tftp-max=256', '--quiet-tftp', '--log-facility=-',
                    '--user=root']
        if self.name == 'tftpd-hpa':
            # '-a 127.0.0.1:PORT' fails (exit 66) where lo is the only interface, as in our
            # namespace (getaddrinfo with AI_ADDRCONFIG); the wildcard address is the same here
            return [benchlib.which('in.tftpd', '/usr/sbin/in.tftpd'), '-L', '-4', '-u', 'root',
                    '-a', f':{self.port}', '-s', root]
        if self.name == 'atftpd':
            return [atftpd_path(), '--daemon', '--no-fork', '--port', str(self.port),
                    '--bind-address', LOOP, '--user', 'root.root', '--logfile', '/dev/null',
                    '--maxthread', '256', root]
        raise ValueError(self.name)

    def start(self):
        self.port = 69 if self.name == 'dnsmasq' else free_udp_port()
        argv = self.argv()
        self.cg = benchlib.Cgroup(f'tftp-{self.name}')
        self.log = open(os.path.join(self.tmp, f'{self.name}.log'), 'w')
        self.proc = benchlib.spawn(argv, cgroup=self.cg, stdout=self.log, stderr=self.log)
        if not benchlib.wait_port(LOOP, self.port, proto='udp', timeout=15):
            self.log.flush()
            with open(self.log.name) as f:
                why = f.read()[-2000:]
            self.stop()
            raise RuntimeError(f'{self.name} did not start: {why}')
        # one warm-up transfer: maps/reads the file, faults pages in, like the runs after it
        run_load(self, FILES[1], 1468, 0, 1)

    def cpu(self):
        return self.cg.cpu_seconds()

    def stop(self):
        benchlib.stop(self.proc)
        self.proc = None
        if self.cg:
            self.cg.remove()
            self.cg = None
        if self.log:
            self.log.close()
            self.log = None


def atftpd_path():
    peers = os.environ.get('PX_BENCH_PEERS', '/var/cache/pixiecore-bench')
    return benchlib.which(os.path.join(peers, 'atftpd/usr/sbin/atftpd'), 'atftpd', '/usr/sbin/atftpd')


LOAD_EXE = None  # a private copy, so that a rebuild during the run cannot pull it away


def load_exe():
    return LOAD_EXE or os.path.join(os.environ.get('PX_BUILD_ROOT', 'build'), 'tests/bench/tftp/tftp-load')


TOTAL_RE = re.compile(r'^TOTAL (.*)$', re.M)


def run_load(server, filename, blksize, windowsize, clients, timeout=300):
    argv = [load_exe(), '--port', str(server.port), '--file', filename,
            '--blksize', str(blksize), '--clients', str(clients),
            '--verify', os.path.join(server.root, filename), '--max-seconds', str(timeout)]
    if windowsize:
        argv += ['--windowsize', str(windowsize)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30,
                       preexec_fn=lambda: os.sched_setaffinity(0, {benchlib.BENCH_CPU}))
    m = TOTAL_RE.search(p.stdout)
    if p.returncode != 0 or not m:
        raise RuntimeError(f'{server.name}: tftp-load {" ".join(argv[1:])} failed (rc {p.returncode}): '
                           f'{p.stderr.strip()[:300]}')
    return {k: float(v) for k, v in (kv.split('=') for kv in m.group(1).split())}


def measure_once(server, size_mib, blksize, windowsize, clients):
    """One run: (MB/s of all clients together, server CPU-s per GB), or None on failure."""
    c0 = server.cpu()
    try:
        r = run_load(server, FILES[size_mib], blksize, windowsize, clients)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        log(str(e))
        return None
    c1 = server.cpu()
    return r['mbps'], (c1 - c0) / (r['bytes'] / 1e9)


def measure(servers, size_mib, blksize, windowsize, clients, reps):
    """Runs one point on every server, interleaved (rep 1 on each, then rep 2, ...; the order
    rotates), so that load from elsewhere on the machine hits all of them alike. Returns
    {server name: {'mbps': median, 'cpu_gb': median, 'runs': [...]}} (None for a failure)."""
    runs = {s.name: [] for s in servers}
    failed = set()
    for i in range(reps):
        order = servers[i % len(servers):] + servers[:i % len(servers)]
        for s in order:
            if s.name in failed:
                continue
            m = measure_once(s, size_mib, blksize, windowsize, clients)
            if m is None:
                failed.add(s.name)
            else:
                runs[s.name].append(m)
    out = {}
    for name, rs in runs.items():
        if name in failed or not rs:
            out[name] = None
            continue
        out[name] = {'mbps': benchlib.median([r[0] for r in rs]), 'cpu_gb': benchlib.median([r[1] for r in rs]),
                     'runs': [r[0] for r in rs]}
    return out


def fmt(v, spec='.1f'):
    return '—' if v is None else format(v, spec)


def real_clients(server, reps=1):
    """The stock clients, for context: wall time of one 32 MiB download each."""
    out = {}
    path = os.path.join(server.tmp, 'client.out')
    want = os.path.getsize(os.path.join(server.root, FILES[32]))
    url = f'tftp://{LOOP}:{server.port}/{FILES[32]}'
    cases = {
        'curl blksize 1468': ['curl', '-sS', '--tftp-blksize', '1468', '-o', path, url],
        'tftp-hpa (512, no options)': ['tftp', '-m', 'binary', LOOP, str(server.port), '-c', 'get',
                                       FILES[32], path],
        'atftp blksize 1468 windowsize 16': ['atftp', '--option', 'blksize 1468', '--option', 'windowsize 16',
                                             '-g', '-r', FILES[32], '-l', path, LOOP, str(server.port)],
    }
    for name, argv in cases.items():
        if not shutil.which(argv[0]):
            out[name] = None
            continue
        times = []
        for _ in range(reps):
            if os.path.exists(path):
                os.unlink(path)
            t0 = time.monotonic()
            p = subprocess.run(argv, capture_output=True, timeout=120,
                               preexec_fn=lambda: os.sched_setaffinity(0, {benchlib.BENCH_CPU}))
            dt = time.monotonic() - t0
            if p.returncode != 0 or not os.path.exists(path) or os.path.getsize(path) != want:
                times = None
                break
            times.append(want / dt / 1e6)
        out[name] = benchlib.median(times) if times else None
    return out


def cpu_busy(cpu, seconds=1.0):
    """Share of cpu's time spent on other work over a second (before the benchmark starts)."""
    def sample():
        with open('/proc/stat') as f:
            for line in f:
                if line.startswith(f'cpu{cpu} '):
                    v = [int(x) for x in line.split()[1:]]
                    return sum(v), v[3] + v[4]
        return 0, 0
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / (t1 - t0) if t1 > t0 else float('nan')


def make_payloads(root, sizes):
    for mib in sizes:
        path = os.path.join(root, FILES[mib])
        with open(path, 'wb') as f:
            for _ in range(mib):
                f.write(os.urandom(MIB))
            # not a multiple of any blksize: the last block is short
            f.write(os.urandom(1000))
        os.chmod(path, 0o644)


def inner(args):
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    reps = args.reps or (1 if args.quick else 3)
    if args.quick:
        sizes = [1, 4, 32]
        bs_sweep = [512, 1468, 8192, 65464]
        win_sweep = [4, 16]
        size_rows = [(1, 1468)]
        client_counts = [(1, 4), (8, 4), (32, 4)]  # (clients, file MiB each)
    else:
        sizes = [1, 4, 32, 128]
        bs_sweep = [512, 1468, 8192, 65464]
        win_sweep = [4, 16, 64]
        size_rows = [(1, 1468), (1, 8192), (128, 1468), (128, 8192)]
        client_counts = [(1, 4), (8, 4), (32, 4)]

    servers = [s for s in args.servers.split(',') if s]
    missing = {'dnsmasq': benchlib.which('dnsmasq', '/usr/sbin/dnsmasq'),
               'tftpd-hpa': benchlib.which('in.tftpd', '/usr/sbin/in.tftpd'),
               'atftpd': atftpd_path(), 'pixiecore': os.environ.get('PIXIECORE')}
    for spec in args.compare:
        name, _, path = spec.partition('=')
        if not path or not os.access(path, os.X_OK):
            log(f'--compare {spec}: want NAME=PATH of a pixiecore binary')
            return 2
        EXTRA_PIXIECORE[name] = path
        missing[name] = path
        servers.insert(1, name)
    for s in list(servers):
        if not missing.get(s):
            log(f'{s} not found (tools/install-bench-deps.sh installs the peers); skipped')
            servers.remove(s)
    if not os.access(load_exe(), os.X_OK):
        log(f'{load_exe()} not built')
        return 1

    busy_before = cpu_busy(benchlib.BENCH_CPU)
    tmp = tempfile.mkdtemp(prefix='pxbench-tftp-')
    os.chmod(tmp, 0o755)
    global LOAD_EXE
    src = load_exe()
    LOAD_EXE = os.path.join(tmp, 'tftp-load')
    shutil.copy2(src, LOAD_EXE)
    pixiecore_copy = os.path.join(tmp, 'pixiecore')
    shutil.copy2(os.environ['PIXIECORE'], pixiecore_copy)
    os.environ['PIXIECORE'] = pixiecore_copy
    for name, path in EXTRA_PIXIECORE.items():
        EXTRA_PIXIECORE[name] = os.path.join(tmp, f'pixiecore-{name}')
        shutil.copy2(path, EXTRA_PIXIECORE[name])
    root = os.path.join(tmp, 'root')
    os.mkdir(root)
    os.chmod(root, 0o777)  # atftpd insists on a world-writable directory
    make_payloads(root, sizes)
    res = {}  # (server, test key) -> measure()
    clients_res = {}
    t_start = time.monotonic()
    running = []
    windowed = {s for s in servers if kind(s) in WINDOWED}

    def point(key, size_mib, blksize, windowsize, clients, only=None):
        srvs = [s for s in running if only is None or s.name in only]
        for name, m in measure(srvs, size_mib, blksize, windowsize, clients, reps).items():
            res[(name,) + key] = m
        log(f'{key} done ({time.monotonic() - t_start:.0f} s)')

    try:
        # all servers run side by side (each on its own port, in its own cgroup)
        for name in servers:
            srv = Server(name, root, tmp)
            log(f'{name}: starting')
            srv.start()
            running.append(srv)
        for bs in bs_sweep:
            point(('bs', bs), 32, bs, 0, 1)
        for w in win_sweep:
            point(('win', w), 32, 1468, w, 1, only=windowed)
        for mib, bs in size_rows:
            point(('size', mib, bs), mib, bs, 0, 1)
        for n, mib in client_counts:
            point(('clients', n), mib, 1468, 0, n)
        point(('clients-w16', 32), client_counts[-1][1], 1468, 16, client_counts[-1][0], only=windowed)
        if not args.no_real_clients:
            for srv in running:
                clients_res[srv.name] = real_clients(srv)
    finally:
        for srv in running:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f'\nTFTP benchmark: loopback in a private netns, server and client pinned to CPU '
          f'{benchlib.BENCH_CPU}, median of {reps} run(s); MB/s = 10^6 bytes/s; CPU = server CPU-seconds '
          f'per GB (10^9 bytes) sent. CPU {benchlib.BENCH_CPU} was {busy_before * 100:.0f}% busy with other work '
          f'just before the runs (MB/s suffers from that; CPU/GB much less).')

    def get(name, *key):
        return res.get((name,) + key)

    rows = []
    for bs in bs_sweep:
        row = [bs]
        for name in servers:
            m = get(name, 'bs', bs)
            row += [fmt(m and m['mbps']), fmt(m and m['cpu_gb'], '.2f')]
        rows.append(row)
    hdr = ['blksize'] + [f'{n} {k}' for n in servers for k in ('MB/s', 'CPU/GB')]
    benchlib.table(hdr, rows, '32 MiB, one client, lock-step (no windowsize)')

    rows = []
    for w in [1] + win_sweep:
        row = [w]
        for name in servers:
            m = get(name, 'bs', 1468) if w == 1 else get(name, 'win', w)
            if m is None and w != 1:
                row += ['n/a', 'n/a']
                continue
            row += [fmt(m and m['mbps']), fmt(m and m['cpu_gb'], '.2f')]
        rows.append(row)
    benchlib.table(['windowsize'] + hdr[1:], rows,
                   '32 MiB, blksize 1468, one client, windowsize sweep (n/a: server has no RFC 7440)')

    rows = []
    for mib, bs in [(32, 1468)] + size_rows:
        row = [f'{mib} MiB', bs]
        for name in servers:
            m = get(name, 'bs', bs) if mib == 32 else get(name, 'size', mib, bs)
            row += [fmt(m and m['mbps']), fmt(m and m['cpu_gb'], '.2f')]
        rows.append(row)
    benchlib.table(['file', 'blksize'] + hdr[1:], rows, 'File size, one client, lock-step')

    rows = []
    for n, mib in client_counts:
        row = [n, f'{mib} MiB']
        for name in servers:
            m = get(name, 'clients', n)
            row += [fmt(m and m['mbps']), fmt(m and m['cpu_gb'], '.2f')]
        rows.append(row)
    n32, mib32 = client_counts[-1]
    row = [f'{n32}, windowsize 16', f'{mib32} MiB']
    for name in servers:
        m = get(name, 'clients-w16', 32)
        row += ['n/a', 'n/a'] if name not in windowed else [fmt(m and m['mbps']), fmt(m and m['cpu_gb'], '.2f')]
    rows.append(row)
    benchlib.table(['clients', 'file each'] + hdr[1:], rows,
                   'Concurrent clients, blksize 1468, total MB/s of all clients')

    if clients_res:
        names = list(next(iter(clients_res.values())).keys())
        rows = [[c] + [fmt(clients_res.get(s, {}).get(c)) for s in servers] for c in names]
        benchlib.table(['stock client (32 MiB, 1 run)'] + [f'{s} MB/s' for s in servers], rows,
                       'Stock clients, wall-clock MB/s including process start (context only)')

    # Targets
    peers = [p for p in PEERS if p in servers]
    trows = []
    met_all = True

    def target(name, ours, ref, refname, want_ratio, lower_is_better=False):
        nonlocal met_all
        if ours is None or ref is None:
            trows.append([name, fmt(ours, '.2f'), f'{refname} {fmt(ref, ".2f")}', '—', 'not measured'])
            met_all = False
            return
        ratio = ours / ref if ref else float('inf')
        ok = ratio <= want_ratio if lower_is_better else ratio >= want_ratio
        met_all = met_all and ok
        want = f'≤ {want_ratio:.1f}×' if lower_is_better else f'≥ {want_ratio:.1f}×'
        trows.append([name, fmt(ours, '.2f'), f'{refname} {fmt(ref, ".2f")}', f'{ratio:.2f}× ({want})',
                      'met' if ok else 'MISSED'])

    def best_peer(key, field='mbps', lowest=False):
        vals = [(res.get((p,) + key) or {}).get(field) for p in peers]
        cands = [(v, p) for v, p in zip(vals, peers) if v is not None]
        if not cands:
            return None, 'peers'
        v, p = (min if lowest else max)(cands)
        return v, p

    if 'pixiecore' in servers and peers:
        for bs in bs_sweep:
            ref, who = best_peer(('bs', bs))
            target(f'MB/s, 32 MiB, blksize {bs}', (get('pixiecore', 'bs', bs) or {}).get('mbps'), ref, who, 1.0)
        ref, who = best_peer(('bs', 1468))
        target('MB/s, windowsize 16 vs best windowless (1468)',
               (get('pixiecore', 'win', 16) or {}).get('mbps'), ref, who, 1.5)
        n32 = client_counts[-1][0]
        if 'dnsmasq' in peers:
            target(f'MB/s total, {n32} clients vs dnsmasq', (get('pixiecore', 'clients', n32) or {}).get('mbps'),
                   (get('dnsmasq', 'clients', n32) or {}).get('mbps'), 'dnsmasq', 1.0)
        ref, who = best_peer(('clients', n32))
        target(f'MB/s total, {n32} clients vs best peer', (get('pixiecore', 'clients', n32) or {}).get('mbps'),
               ref, who, 1.0)
        for bs in (1468,) if args.quick else (512, 1468, 8192):
            ref, who = best_peer(('bs', bs), 'cpu_gb', lowest=True)
            target(f'CPU-s/GB, blksize {bs} (lower is better)', (get('pixiecore', 'bs', bs) or {}).get('cpu_gb'),
                   ref, who, 1.0, lower_is_better=True)
        benchlib.table(['target', 'pixiecore', 'reference', 'ratio', 'result'], trows, 'Targets')
    log(f'finished in {time.monotonic() - t_start:.0f} s')
    if args.strict and not met_all:
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='small matrix, one run per point')
    ap.add_argument('--reps', type=int, default=0, help='runs per point (default 3, --quick 1)')
    ap.add_argument('--servers', default='pixiecore,' + ','.join(PEERS))
    ap.add_argument('--no-real-clients', action='store_true', help='skip the stock-client table')
    ap.add_argument('--compare', action='append', default=[], metavar='NAME=PATH',
                    help='also run this pixiecore binary (e.g. a baseline build) under NAME')
    ap.add_argument('--strict', action='store_true', help='exit 1 when a target is missed')
    args = ap.parse_args()

    benchlib.require_root()
    if not os.environ.get('PIXIECORE'):
        build = os.environ.get('PX_BUILD_ROOT') or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), '../../../build')
        os.environ['PX_BUILD_ROOT'] = build
        os.environ['PIXIECORE'] = os.path.join(build, 'src/pixiecore')
    if os.environ.get('PX_BENCH_TFTP_NETNS') == '1':
        return inner(args)
    # dnsmasq's TFTP port is 69: run everything in a namespace of our own, gone when we exit
    if not shutil.which('unshare'):
        log('unshare (util-linux) not found')
        return 77
    env = dict(os.environ, PX_BENCH_TFTP_NETNS='1')
    return subprocess.call(['unshare', '--net', '--', sys.executable, os.path.abspath(__file__)] + sys.argv[1:],
                           env=env)


if __name__ == '__main__':
    sys.exit(main())
