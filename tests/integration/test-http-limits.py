#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""HTTP limits, against the real daemon on 127.0.0.1 only (no root needed):

- -max-http-conns-per-client: connections over the cap from one client address are closed at
  once (with a 503), while another client address (127.0.0.2, still loopback) is served;
  finished connections give their slot back (sequential downloads far beyond the cap succeed).
- -http-header-timeout: a connection that sends nothing, and a slowloris one that trickles
  header lines, are both dropped after the timeout, not before; the freed slots serve again.
- the counters: the daemon's HTTP totals at shutdown (the same numbers as the D-Bus Counters
  http-connections-refused and http-header-timeouts) and the rate-limited notices.

Prints TAP. Environment: PIXIECORE, PX_SOURCE_ROOT, PXT_KEEP=1.
"""

import hashlib
import os
import re
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pxtest  # noqa: E402
from pxtest import tap  # noqa: E402

MAC = '52:54:00:12:34:56'
CAP = 4
TIMEOUT_S = 2.0
OTHER_CLIENT = '127.0.0.2'


def connect(port, source='127.0.0.1'):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(('127.0.0.1', port))
    return s


def http_get(port, path, source='127.0.0.1'):
    """(status, body) of one GET; (None, error text) when the connection failed."""
    try:
        with connect(port, source) as s:
            s.sendall(f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'.encode())
            data = b''
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return None, str(e)
    head, _, body = data.partition(b'\r\n\r\n')
    m = re.match(rb'HTTP/1\.[01] (\d+)', head)
    return (int(m.group(1)) if m else None), body


def wait_closed(s, limit):
    """Seconds until the server closed s (EOF or reset), None if it stays open for `limit` s.
    Whatever the server sent before closing is returned too."""
    started = time.monotonic()
    got = b''
    s.settimeout(0.1)
    while time.monotonic() - started < limit:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - started, got
        if not chunk:
            return time.monotonic() - started, got
        got += chunk
    return None, got


def main():
    skip = pxtest.cannot_run(root=False, tools=())
    if skip is not None:
        return skip
    pxtest.scrub_environment()
    bench = pxtest.Bench('pxt-http-limits.')

    def body():
        bench.make_tmp()
        kernel = bench.file('vmlinuz', os.urandom(300 * 1024))  # big enough for the zero-copy path
        initrd = bench.file('initrd.img', os.urandom(5000))
        loaders = [bench.file(n, b'loader ' + n.encode()) for n in ('undionly.kpxe', 'ipxe.efi', 'ipxe.pxe')]
        conf = bench.file('empty.conf', b'')
        port = None
        for _ in range(3):
            with socket.socket() as probe:
                probe.bind(('127.0.0.1', 0))
                port = probe.getsockname()[1]
            if bench.launch_daemon(['-config', conf, '-listen-addr', '127.0.0.1', '-port', str(port),
                                    '-port-dhcp', '0', '-port-pxe', '0', '-port-tftp', '0',
                                    '-ipxe-bios', loaders[0], '-ipxe-efi64', loaders[1], '-ipxe-ipxe', loaders[2],
                                    '-kernel', kernel, '-initrd', initrd,
                                    '-max-http-conns-per-client', str(CAP),
                                    '-http-header-timeout', f'{int(TIMEOUT_S * 1000)}ms']):
                break
        if not bench.alive():
            bench.diag_not_started()
            tap.ok(False, 'daemon starts on 127.0.0.1 with -max-http-conns-per-client and -http-header-timeout')
            return
        tap.ok(True, f'daemon starts on 127.0.0.1:{port} (cap {CAP} per client, request timeout {TIMEOUT_S} s)')
        url = f'/_/file/{MAC.replace(":", "-")}/kernel'
        want = hashlib.sha256(open(kernel, 'rb').read()).hexdigest()

        # 1. finished connections give their slot back
        results = [http_get(port, url) for _ in range(3 * CAP)]
        tap.ok(all(st == 200 and hashlib.sha256(b).hexdigest() == want for st, b in results),
               f'{3 * CAP} sequential downloads from one client (cap {CAP}): all complete and identical',
               [st for st, _ in results])

        # 2. CAP idle connections fill the client's slots; the next ones are refused at once
        t0 = time.monotonic()
        idle = [connect(port) for _ in range(CAP)]
        time.sleep(0.3)  # accepted and counted
        refused_times = []
        for i in range(3):
            s = connect(port)
            s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
            took, got = wait_closed(s, 1.5)
            s.close()
            refused_times.append(took)
            if i == 0:
                tap.ok(got.startswith(b'HTTP/1.1 503'), 'over the cap: the client is told 503 Service Unavailable',
                       repr(got[:80]))
        tap.ok(all(t is not None and t < 1.0 for t in refused_times),
               f'connections {CAP + 1}..{CAP + 3} from the same client are closed at once', refused_times)

        # 3. meanwhile another client address is served
        st, b = http_get(port, url, source=OTHER_CLIENT)
        tap.ok(st == 200 and hashlib.sha256(b).hexdigest() == want,
               f'another client ({OTHER_CLIENT}) still downloads the kernel while the first is at its cap', st)

        # 4. a slowloris client: header lines trickling in, never the blank line
        slow = connect(port, source=OTHER_CLIENT)
        slow.sendall(b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n')
        slow_t0 = time.monotonic()
        stop = threading.Event()

        def trickle():
            i = 0
            while not stop.wait(0.3):
                try:
                    slow.sendall(f'X-Slow-{i}: a\r\n'.encode())
                except OSError:
                    return
                i += 1

        th = threading.Thread(target=trickle, daemon=True)
        th.start()

        # 5. the idle ones are dropped after the timeout, not before
        closed_at = []  # seconds after the idle connections were opened
        for s in idle:
            w = time.monotonic()
            took = wait_closed(s, TIMEOUT_S + 3)[0]
            closed_at.append(None if took is None else round(w + took - t0, 2))
            s.close()
        tap.ok(all(c is not None for c in closed_at),
               f'idle connections (no request) are dropped within {TIMEOUT_S + 3} s', closed_at)
        tap.ok(all(c is not None and TIMEOUT_S - 0.1 <= c <= TIMEOUT_S + 2 for c in closed_at),
               f'... after about the {TIMEOUT_S} s timeout, not before', closed_at)

        took, _ = wait_closed(slow, TIMEOUT_S + 3)
        stop.set()
        th.join(2)
        slow.close()
        total = time.monotonic() - slow_t0
        tap.ok(took is not None, 'a slowloris connection (header lines every 0.3 s) is dropped', f'{total:.2f} s')
        tap.ok(took is not None and TIMEOUT_S - 0.3 <= total <= TIMEOUT_S + 2,
               f'... after about the {TIMEOUT_S} s timeout although it keeps sending', f'{total:.2f} s')

        # 6. the dropped connections gave their slots back
        time.sleep(0.3)
        results = [http_get(port, url) for _ in range(CAP + 1)]
        tap.ok(all(st == 200 for st, _ in results), 'after the drops the first client is served again', results[0][0])

        # 7. a burst of parallel downloads within the cap all complete (zero-copy path, concurrently)
        out = [None] * CAP

        def fetch(i):
            out[i] = http_get(port, url)

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(CAP)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        tap.ok(all(r and r[0] == 200 and hashlib.sha256(r[1]).hexdigest() == want for r in out),
               f'{CAP} parallel downloads from one client (at the cap) all complete and identical',
               [r[0] if r else None for r in out])

        # 8. keep-alive: two files on one connection, then the idle connection is dropped
        ka_ok, ka_closed = False, None
        with connect(port) as s:
            f = s.makefile('rb')
            bodies = []
            for _ in range(2):
                s.sendall(f'GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.encode())
                status = f.readline()
                length = None
                while True:
                    line = f.readline()
                    if line in (b'\r\n', b''):
                        break
                    if line.lower().startswith(b'content-length:'):
                        length = int(line.split(b':')[1])
                bodies.append((status.startswith(b'HTTP/1.1 200'), f.read(length) if length else b''))
            ka_ok = all(ok and hashlib.sha256(b).hexdigest() == want for ok, b in bodies)
            w = time.monotonic()
            s.settimeout(TIMEOUT_S + 3)
            try:
                ka_closed = f.read(1) == b'' and time.monotonic() - w
            except OSError:
                ka_closed = time.monotonic() - w
        tap.ok(ka_ok, 'keep-alive: two downloads on one connection, both complete and identical')
        tap.ok(ka_closed and TIMEOUT_S - 0.3 <= ka_closed <= TIMEOUT_S + 2,
               f'keep-alive: the idle connection is closed after the {TIMEOUT_S} s request timeout', ka_closed)

        # 9. counters: the notices and the totals at shutdown
        log = bench.log_text()
        tap.ok(re.search(r'refused an HTTP connection from 127\.0\.0\.1: too many connections from this client', log),
               'the refusal is logged (notice, rate-limited)')
        tap.ok(re.search(r'dropped a connection from 127\.0\.0\.1: no complete request within 2000 ms', log),
               'the request timeout is logged (notice, rate-limited)')
        tap.ok(len(re.findall(r'refused an HTTP connection', log)) == 1,
               'refusals within 10 s are logged once', len(re.findall(r'refused an HTTP connection', log)))
        rc = bench.stop_daemon()
        tap.ok(rc == 0, 'daemon stops cleanly on SIGTERM', rc)
        log = bench.log_text()
        m = re.search(r'HTTP totals: (\d+) requests, (\d+) connections, (\d+) refused, (\d+) request timeouts, '
                      r'(\d+) stalled, (\d+) bytes sent', log)
        tap.ok(m is not None, 'the daemon reports its HTTP totals at shutdown')
        if m:
            requests, conns, refused, timeouts, _, sent = (int(x) for x in m.groups())
            tap.eq(sent, requests * os.path.getsize(kernel), 'counter: bytes sent (every complete download, once)')
            tap.eq(refused, 3, 'counter: connections refused')
            tap.eq(timeouts, CAP + 2, 'counter: request timeouts (the idle ones, the slowloris one, the kept-alive one)')
            tap.eq(requests, 3 * CAP + 1 + (CAP + 1) + CAP + 2, 'counter: requests (only the complete ones)')
            tap.eq(conns, requests - 1 + (timeouts - 1), 'counter: connections handed to the HTTP server')

    return pxtest.run(body, bench)


if __name__ == '__main__':
    sys.exit(main())
