#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""API mode over HTTP, on loopback only: pixiecore -api against tests/integration/fake-api.py.

    pixiecore -listen-addr 127.0.0.1 -port P -port-dhcp 0 -port-pxe 0 -port-tftp 0
              -state-dir TMP/state -api http://127.0.0.1:Q/prefix

Checks the /_/ipxe script built from the API's answer (sealed /_/file URLs, relative and
file:// URLs, {{ URL }} in the cmdline, message as echo lines, ipxe-script verbatim), byte-
identical downloads through pixiecore, the refusal script for every kind of bad answer (404,
500, garbage, wrong types, huge, slow beyond -api-timeout, endless body), forged/tampered/
foreign file IDs (403, and never an upstream fetch), upstream failures (no Content-Length,
404, cut mid-stream), the API going away mid-boot, the answer cache (-api-cache-time), one
shared call for concurrent requests, restart with the same -state-dir, and that a slow API
for one machine does not delay another.

No root needed; every socket is on 127.0.0.1. Prints TAP; exits 0 when every test passed, 1
otherwise, 77 when it cannot run. Every wait is bounded; both servers are stopped at exit.

Environment: PIXIECORE (default <source>/build/src/pixiecore), PX_SOURCE_ROOT, PXT_KEEP=1
(keep the temp dir with the logs).
"""

import http.client
import json
import os
import re
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pxtest  # noqa: E402
from pxtest import dashed, tap  # noqa: E402

# proxies must not get between us and loopback; no upstream cache unless a test asks for one
pxtest.scrub_environment()


def macs(n):
    return f'52:54:00:a0:00:{n:02x}'


M_HAPPY = macs(1)
M_SCRIPT = macs(2)
M_404 = macs(3)
M_500 = macs(4)
M_GARBAGE = macs(5)
M_TYPES = macs(6)
M_HUGE = macs(7)
M_HUGE_CHUNKED = macs(8)
M_SLOW = macs(9)        # 3 s, then a happy answer
M_ENDLESS = macs(10)
M_UPSTREAM = macs(11)   # files that fail upstream
M_CACHE = macs(12)
M_B = macs(13)          # fast, for the concurrency proof
M_JOIN = macs(14)       # 1.5 s, asked twice at once
M_REFCACHE = macs(15)   # 404, for the refusal cache
M_BADMSG = macs(16)     # message iPXE would interpret
M_BADCMD = macs(17)     # cmdline with a '#' word
M_ARCH = macs(18)
M_OTHER = macs(19)      # another happy machine, for foreign IDs
M_GONE = macs(20)       # for "the API goes away"
M_SLOW2 = macs(21)      # 3 s too: two slow machines at once
M_KONLY = macs(22)      # a kernel-only answer whose kernel fails upstream
M_SLOW3 = macs(23)      # 3 s
M_C = macs(24)          # fast
M_UNKNOWN = macs(0x30)  # not configured: default 404


# ---------------------------------------------------------------------------
# HTTP client (http.client: no proxies, full control over short reads)
# ---------------------------------------------------------------------------

class Response:
    status = None
    headers = None
    body = b''
    error = None
    elapsed = 0.0
    short = False

    def header(self, name):
        return self.headers.get(name) if self.headers is not None else None

    def text(self):
        return self.body.decode('utf-8', 'replace')

    def __repr__(self):
        return f'<{self.status} {len(self.body)} bytes in {self.elapsed:.2f}s error={self.error!r}>'


def http_get(url, timeout=10.0, method='GET'):
    m = re.match(r'^http://([^/:]+):(\d+)(/.*)$', url)
    assert m, url
    r = Response()
    start = time.monotonic()
    conn = http.client.HTTPConnection(m.group(1), int(m.group(2)), timeout=timeout)
    try:
        conn.request(method, m.group(3), headers={'Connection': 'close'})
        resp = conn.getresponse()
        r.status = resp.status
        r.headers = resp.headers
        try:
            r.body = resp.read()
        except http.client.IncompleteRead as e:
            r.body = e.partial
            r.short = True
            r.error = 'IncompleteRead'
    except (OSError, http.client.HTTPException) as e:
        r.error = f'{type(e).__name__}: {e}'
        r.short = True
    finally:
        conn.close()
    r.elapsed = time.monotonic() - start
    return r


# ---------------------------------------------------------------------------
# The fake API and the daemon
# ---------------------------------------------------------------------------

class Env(pxtest.Bench):
    def __init__(self):
        super().__init__('pxt-api-', log_name='pixiecore-{n}.log')
        self.port = None

    # -- fake API ------------------------------------------------------------------------

    def start_fake(self):
        if not super().start_fake(self.path('fake.json'), '--prefix', '/prefix'):
            return False
        self.api = f'http://127.0.0.1:{self.fake_port}'
        return http_get(self.api + '/_calls', timeout=5).status == 200

    def calls(self):
        r = http_get(self.api + '/_calls', timeout=5)
        return json.loads(r.body) if r.status == 200 else None

    def count(self, mac):
        c = self.calls()
        return c['calls'].get(mac, 0) if c else None

    # -- daemon --------------------------------------------------------------------------

    def start_daemon(self, *extra, state='state'):
        for _ in range(3):
            s = socket.socket()
            s.bind(('127.0.0.1', 0))
            self.port = s.getsockname()[1]
            s.close()
            args = ['-config', self.path('empty.conf'), '-listen-addr', '127.0.0.1', '-port',
                    str(self.port), '-port-dhcp', '0', '-port-pxe', '0', '-port-tftp', '0', '-state-dir',
                    self.path(state), '-api', f'{self.api}/prefix', '-debug',
                    '-ipxe-bios', self.path('undionly.kpxe'), '-ipxe-efi64', self.path('ipxe.efi'),
                    '-ipxe-ipxe', self.path('ipxe.pxe'), *extra]
            if self.launch_daemon(args):
                self.base = f'http://127.0.0.1:{self.port}'
                return True
            if 'Address already in use' not in self.log_text():
                break
        tap.diag(f'pixiecore {" ".join(extra)} did not start:\n' + self.log_text()[-2000:])
        self.stop_daemon()
        return False

    def script(self, mac, timeout=10.0, arch=None):
        q = f'/_/ipxe?mac={mac}' + (f'&arch={arch}' if arch is not None else '')
        return http_get(self.base + q, timeout=timeout)


env = Env()


# ---------------------------------------------------------------------------
# Script parsing
# ---------------------------------------------------------------------------

def image_url(script, cmd, name):
    for line in script.splitlines():
        w = line.split()
        if len(w) >= 4 and w[0] == cmd and w[1] == '--name' and w[2] == name:
            return w[3]
    return None


def boot_line(script):
    for line in script.splitlines():
        if line.startswith('boot '):
            return line
    return None


def is_refusal(r):
    """A refusal: a 200 iPXE script that loads nothing and exits to the firmware."""
    if r.status != 200:
        return False
    lines = r.text().splitlines()
    return (bool(lines) and lines[0] == '#!ipxe' and any(re.match(r'^exit\b', line) for line in lines) and
            not any(re.match(r'^(kernel|initrd|boot|chain|imgfetch)\b', line) for line in lines))


def file_url_re(base, mac):
    return re.compile(r'^' + re.escape(f'{base}/_/file/{dashed(mac)}/') + r'([A-Za-z0-9_-]+)$')


def sha(b):
    import hashlib
    return hashlib.sha256(b).hexdigest()


def same(r, want, name):
    return tap.ok(r.status == 200 and r.body == want, name,
                  f'status {r.status}, {len(r.body)} bytes (want {len(want)}), identical: {r.body == want}, '
                  f'error {r.error}')


# ---------------------------------------------------------------------------
# Payload and the fake's configuration
# ---------------------------------------------------------------------------

P = {}


def make_payload():
    P['kernel'] = b'KERNEL' + os.urandom(300000)
    P['initrd-a'] = b'INITRDA' + os.urandom(70000)
    P['local'] = b'LOCAL' + os.urandom(50001)
    P['extra'] = f'extra-token-{os.urandom(6).hex()}\n'.encode()
    P['big'] = os.urandom(3 * 1024 * 1024)
    P['slow'] = os.urandom(200000)
    for k in ('kernel', 'initrd-a', 'extra', 'big', 'slow'):
        env.file(k + '.bin', P[k])
    env.file('local.img', P['local'])
    for f in ('undionly.kpxe', 'ipxe.efi', 'ipxe.pxe'):
        env.file(f, f'fake {f}\n'.encode())
    env.file('empty.conf', b'[pixiecore]\n')

    happy = {
        'kernel': 'files/kernel',                                  # -> /prefix/files/kernel
        'initrd': ['/files/initrd-a', 'file://' + env.path('local.img')],  # -> /files/initrd-a; local
        'cmdline': 'console=ttyS0 extra={{ URL "files/extra.txt" }} quiet',
        'message': 'Hello from the fake API\nsecond line',
    }
    script = '#!ipxe\necho verbatim from the API\nchain http://example.invalid/x || exit 1\n'
    P['ipxe-script'] = script
    P['happy'] = happy
    config = {
        'default': {'status': 404, 'body': 'unknown machine\n'},
        'macs': {
            M_HAPPY: {'json': happy},
            M_OTHER: {'json': happy},
            M_B: {'json': happy},
            M_CACHE: {'json': happy},
            M_ARCH: {'json': happy},
            M_GONE: {'json': happy},
            M_SCRIPT: {'json': {'ipxe-script': script, 'kernel': 'ignored'}},
            M_404: {'status': 404, 'body': 'no\n'},
            M_REFCACHE: {'status': 404, 'body': 'no\n'},
            M_500: {'status': 500, 'body': 'internal error\n'},
            M_GARBAGE: 'garbage',
            M_TYPES: 'types',
            M_HUGE: 'huge:2000000',
            M_HUGE_CHUNKED: 'huge-chunked:2000000',
            M_SLOW: {'json': happy, 'delay': 3},
            M_SLOW2: {'json': happy, 'delay': 3},
            M_SLOW3: {'json': happy, 'delay': 3},
            M_C: {'json': happy},
            M_JOIN: {'json': happy, 'delay': 1.5},
            M_KONLY: {'json': {'kernel': 'files/missing'}},
            M_ENDLESS: 'endless:8',
            M_BADMSG: {'json': {**happy, 'message': 'cost: ${price}'}},
            M_BADCMD: {'json': {**happy, 'cmdline': 'console=ttyS0 # comment'}},
            M_UPSTREAM: {'json': {
                'kernel': 'files/kernel',
                'initrd': ['files/chunked', 'files/eof', 'files/missing', 'files/dies', 'files/slow',
                           'files/status500', 'files/slowlong', 'files/slowlong'],
            }},
        },
        'files': {
            'kernel': {'path': env.path('kernel.bin')},
            'initrd-a': {'path': env.path('initrd-a.bin')},
            'extra.txt': {'path': env.path('extra.bin')},
            'chunked': {'path': env.path('big.bin'), 'mode': 'chunked'},
            'eof': {'path': env.path('big.bin'), 'mode': 'eof'},
            'dies': {'path': env.path('big.bin'), 'mode': 'die', 'after': 1000000},
            'slow': {'path': env.path('slow.bin'), 'mode': 'slow', 'rate': 400000},
            'slowlong': {'path': env.path('slow.bin'), 'mode': 'slow', 'rate': 100000},
            'status500': {'mode': 'status', 'status': 500},
        },
    }
    env.file('fake.json', json.dumps(config, indent=1).encode())


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

SAVED = {}


def test_happy():
    base = env.base
    r = env.script(M_HAPPY)
    if not tap.eq(r.status, 200, 'happy: /_/ipxe status 200'):
        tap.diag(r.text())
        return
    s = r.text()
    SAVED['happy_script'] = s
    tap.eq(s.splitlines()[0], '#!ipxe', 'happy: first line #!ipxe')
    url_re = file_url_re(base, M_HAPPY)
    k = image_url(s, 'kernel', 'kernel')
    i0 = image_url(s, 'initrd', 'initrd0')
    i1 = image_url(s, 'initrd', 'initrd1')
    tap.ok(k and url_re.match(k), 'happy: kernel URL is /_/file/<mac-dashed>/<id> on pixiecore', k)
    tap.ok(i0 and url_re.match(i0), 'happy: initrd0 URL is /_/file/<mac-dashed>/<id>', i0)
    tap.ok(i1 and url_re.match(i1), 'happy: initrd1 URL is /_/file/<mac-dashed>/<id>', i1)
    tap.ok(image_url(s, 'initrd', 'initrd2') is None, 'happy: exactly two initrds')
    tap.ok(f'127.0.0.1:{env.fake_port}' not in s and 'file://' not in s and 'files/' not in s,
           'happy: the API server\'s URLs never appear in the script', s)
    ids = [url_re.match(u).group(1) for u in (k, i0, i1) if u and url_re.match(u)]
    tap.eq(len(set(ids)), 3, 'happy: three distinct IDs')

    lines = s.splitlines()
    kernel_at = next((n for n, line in enumerate(lines) if line.startswith('kernel ')), len(lines))
    tap.ok('echo Hello from the fake API' in lines[:kernel_at] and 'echo second line' in lines[:kernel_at],
           'happy: message shown as echo lines before the kernel is loaded', s)

    b = boot_line(s) or ''
    m = re.match(r'^boot kernel initrd=initrd0 initrd=initrd1 console=ttyS0 extra=(\S+) quiet( \|\| goto failed)?$', b)
    if tap.ok(m, 'happy: boot line is "boot kernel initrd=initrd0 initrd=initrd1 console=ttyS0 extra=<url> quiet"', b):
        extra = m.group(1)
        tap.ok(url_re.match(extra), '{{ URL }} became a pixiecore /_/file URL', extra)
        SAVED['extra_url'] = extra

    before = env.calls()
    SAVED['kernel_url'], SAVED['initrd0_url'], SAVED['initrd1_url'] = k, i0, i1
    if k:
        r = http_get(k)
        same(r, P['kernel'], 'kernel (relative "files/kernel") downloads byte-identical through pixiecore')
        tap.eq(r.header('Content-Length'), str(len(P['kernel'])), 'kernel: Content-Length')
    if i0:
        same(http_get(i0), P['initrd-a'], 'initrd0 (absolute-path "/files/initrd-a") downloads byte-identical')
    if i1:
        r = http_get(i1)
        same(r, P['local'], 'initrd1 (file://) served from the local file, byte-identical')
        tap.eq(r.header('Content-Length'), str(len(P['local'])), 'file:// initrd: Content-Length')
    if SAVED.get('extra_url'):
        same(http_get(SAVED['extra_url']), P['extra'], '{{ URL "files/extra.txt" }} target downloads through pixiecore')
    after = env.calls()
    files = after['files']
    tap.eq(files.get('/prefix/files/kernel', 0) - before['files'].get('/prefix/files/kernel', 0), 1,
           'relative "files/kernel" resolved against <api>/v1: fetched as /prefix/files/kernel')
    tap.eq(files.get('/files/initrd-a', 0) - before['files'].get('/files/initrd-a', 0), 1,
           'relative "/files/initrd-a" resolved to the host root: fetched as /files/initrd-a')
    tap.eq(files.get('/prefix/files/extra.txt', 0) - before['files'].get('/prefix/files/extra.txt', 0), 1,
           '{{ URL "files/extra.txt" }} fetched as /prefix/files/extra.txt')
    tap.ok(not files.get('/files/kernel') and not files.get('/prefix/files/initrd-a'),
           'no request went to a wrongly resolved path', files)
    tap.eq(after['calls'].get(M_HAPPY), 1, 'happy boot (script + 4 downloads): exactly 1 API call')
    q = after['queries'].get(M_HAPPY, [''])[0]
    tap.ok(re.match(r'^arch=\d+(&firmware=(bios|efi32|efi64))?$', q),
           f'API query string is arch=N[&firmware=F] ({q})', q)
    tap.ok(any(p.startswith('/prefix/v1/boot/') for p in after['paths']),
           'API request path is <prefix>/v1/boot/<mac>', after['paths'])

    r = http_get(k, method='HEAD') if k else None
    if r:
        tap.ok(r.status == 200 and r.header('Content-Length') == str(len(P['kernel'])) and not r.body,
               'HEAD on a proxied kernel: 200 with Content-Length, no body', r)


def test_script_and_refusals():
    r = env.script(M_SCRIPT)
    tap.ok(r.status == 200 and r.text() == P['ipxe-script'], 'ipxe-script answer is served verbatim', r.text())
    cases = [
        (M_404, 'API 404'), (M_500, 'API 500'), (M_GARBAGE, 'garbage JSON'), (M_TYPES, 'wrong JSON types'),
        (M_HUGE, 'huge body (2 MB, with Content-Length)'), (M_HUGE_CHUNKED, 'huge body (2 MB, chunked)'),
        (M_UNKNOWN, 'unconfigured MAC (fake default 404)'),
        (M_BADMSG, 'message with ${...}'), (M_BADCMD, 'cmdline with a # word'),
    ]
    for mac, what in cases:
        r = env.script(mac)
        tap.ok(is_refusal(r), f'{what}: refusal script (#!ipxe ... exit)', f'{r}: {r.text()[:400]}')
        tap.ok(r.elapsed < 3, f'{what}: answered in {r.elapsed:.2f} s (< 3 s)')
    r = env.script(M_HAPPY)
    tap.ok(r.status == 200 and boot_line(r.text()), 'after all refusals, a good machine still gets its script')
    tap.ok(env.alive(), 'daemon alive after the bad answers')
    log = env.log_text()
    tap.ok('API says no boot' in log or 'not booting this machine' in log, 'refusals are logged')


def test_forged_ids():
    k = SAVED.get('kernel_url')
    if not k:
        tap.ok(False, 'forged IDs: need the happy kernel URL')
        return
    base = env.base
    kid = k.rsplit('/', 1)[1]
    before = env.calls()['files']
    alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

    def flip(s, i):
        c = s[i]
        return s[:i] + alphabet[(alphabet.index(c) + 1) % 64] + s[i + 1:]

    forged = 'A' + os.urandom(60).hex()[:len(kid) - 1]
    cases = [
        ('forged ID (random)', f'/_/file/{dashed(M_HAPPY)}/{forged}'),
        ('one altered character (middle)', f'/_/file/{dashed(M_HAPPY)}/{flip(kid, len(kid) // 2)}'),
        ('one altered character (first)', f'/_/file/{dashed(M_HAPPY)}/{flip(kid, 0)}'),
        ('one altered character (last)', f'/_/file/{dashed(M_HAPPY)}/{flip(kid, len(kid) - 1)}'),
        ('truncated ID', f'/_/file/{dashed(M_HAPPY)}/{kid[:-4]}'),
        ('extended ID', f'/_/file/{dashed(M_HAPPY)}/{kid}AAAA'),
        ('ID minted for another MAC', f'/_/file/{dashed(M_OTHER)}/{kid}'),
        ('ID for another MAC, colon form', f'/_/file/{M_OTHER}/{kid}'),
    ]
    for what, path in cases:
        r = http_get(base + path)
        tap.eq(r.status, 403, f'{what}: 403')
    # a name not even shaped like a sealed ID is simply not there
    r = http_get(base + f'/_/file/{dashed(M_HAPPY)}/kernel')
    tap.eq(r.status, 404, 'static-mode name "kernel" in API mode: 404')
    after = env.calls()['files']
    tap.eq(after, before, 'forged/tampered/foreign IDs caused no upstream fetch')
    tap.ok(env.alive(), 'daemon alive after forged IDs')


def test_upstream_failures():
    r = env.script(M_UPSTREAM)
    s = r.text()
    urls = [image_url(s, 'initrd', f'initrd{i}') for i in range(8)]
    if not tap.ok(r.status == 200 and all(urls), 'upstream-failure machine gets a script with 8 initrds', s):
        return
    chunked, eof, missing, dies, slow, st500, slowlong1, slowlong2 = urls
    r = http_get(chunked)
    tap.eq(r.status, 502, 'upstream without Content-Length (chunked): 502')
    r = http_get(eof)
    tap.eq(r.status, 502, 'upstream without Content-Length (ends by close): 502')
    r = http_get(missing)
    tap.eq(r.status, 502, 'upstream 404: 502')
    r = http_get(st500)
    tap.eq(r.status, 502, 'upstream 500: 502')
    # a failed proxied download is not a delivered file
    r = env.script(M_KONLY)
    k = image_url(r.text(), 'kernel', 'kernel')
    if tap.ok(r.status == 200 and k, 'kernel-only machine gets a script'):
        r = http_get(k)
        tap.eq(r.status, 502, 'kernel-only machine: upstream 404 for the kernel: 502')
        time.sleep(0.3)
        lines = [l for l in env.log_text().splitlines() if M_KONLY in l]
        bad = [l for l in lines if re.search(r'state booting|sent kernel', l)]
        tap.ok(not bad, 'a 502 for the only (last) file neither logs "sent kernel" nor marks the session booting',
               '\n'.join(bad))

    r = http_get(dies, timeout=15)
    n = len(P['big'])
    tap.ok(r.status in (200, None) and len(r.body) < n and (r.short or r.error),
           f'upstream dying mid-stream: the client sees a short transfer ({len(r.body)} of {n} bytes, {r.error})',
           repr(r))
    if r.status == 200:
        tap.eq(r.header('Content-Length'), str(n), 'upstream dying mid-stream: the announced length was the full size')
    tap.ok(r.elapsed < 10, f'upstream dying mid-stream: ended promptly ({r.elapsed:.1f} s)')
    time.sleep(0.2)
    tap.ok(env.alive(), 'daemon alive after a mid-stream upstream failure')

    # a slow upstream is proxied completely, and meanwhile other requests are served at once
    result = {}
    t = threading.Thread(target=lambda: result.update(r=http_get(slow, timeout=15)))
    t.start()
    time.sleep(0.1)
    q = env.script(M_HAPPY)
    tap.ok(q.status == 200 and q.elapsed < 0.5, f'script served while a slow upstream streams ({q.elapsed:.2f} s)')
    t.join(20)
    r = result.get('r')
    tap.ok(r is not None and r.status == 200 and r.body == P['slow'], 'slow upstream (0.5 s): byte-identical', r)
    # two slow proxied downloads from one upstream host do not hold up a third one
    result = {}
    ts = [threading.Thread(target=lambda u=u, i=i: result.update({i: http_get(u, timeout=15)}))
          for i, u in enumerate((slowlong1, slowlong2))]
    for t in ts:
        t.start()
    time.sleep(0.3)
    r = http_get(SAVED['kernel_url'], timeout=15)
    same(r, P['kernel'], 'during two slow upstream downloads, the kernel still downloads')
    tap.ok(r.elapsed < 0.5,
           f'two slow upstream downloads from one host do not delay a third ({r.elapsed:.2f} s < 0.5 s)')
    for t in ts:
        t.join(20)
    tap.ok(all(result.get(i) and result[i].body == P['slow'] for i in (0, 1)), 'both slow downloads complete')


def test_cache_and_concurrency():
    # two script fetches within the cache time: one API call; file downloads cost none
    c0 = env.count(M_CACHE)
    r1 = env.script(M_CACHE)
    r2 = env.script(M_CACHE)
    tap.ok(r1.status == 200 and r2.status == 200 and boot_line(r2.text()), 'cache: both script fetches answered')
    tap.eq(env.count(M_CACHE) - c0, 1, 'cache: two script fetches within -api-cache-time = 1 API call')
    u1 = image_url(r1.text(), 'kernel', 'kernel')
    u2 = image_url(r2.text(), 'kernel', 'kernel')
    tap.ok(u1 and u2 and u1 != u2, 'cache: every script gets freshly sealed IDs')
    if u2:
        same(http_get(u1), P['kernel'], 'cache: the first script\'s kernel URL still works')
    tap.eq(env.count(M_CACHE) - c0, 1, 'cache: downloads cost no API call')

    # refusals are kept ~2 s
    c0 = env.count(M_REFCACHE)
    env.script(M_REFCACHE)
    env.script(M_REFCACHE)
    tap.eq(env.count(M_REFCACHE) - c0, 1, 'refusal cache: two fetches within 2 s = 1 API call')
    time.sleep(2.3)
    env.script(M_REFCACHE)
    tap.eq(env.count(M_REFCACHE) - c0, 2, 'refusal cache: expired after ~2 s (a new API call)')

    # concurrency: a slow API for A does not delay B
    res = {}
    t = threading.Thread(target=lambda: res.update(a=env.script(M_SLOW, timeout=15)))
    t_start = time.monotonic()
    t.start()
    pending = False
    for _ in range(40):
        c = env.calls()
        if c and c['calls'].get(M_SLOW) and c['in_flight'] >= 1:
            pending = True
            break
        time.sleep(0.05)
    tap.ok(pending, 'concurrency: the API call for slow machine A is pending')
    rb = env.script(M_B)
    tap.ok(rb.status == 200 and boot_line(rb.text()) and rb.elapsed < 0.5,
           f'concurrency: B answered in {rb.elapsed:.3f} s (< 0.5 s) while A is pending', rb)
    t.join(20)
    ra = res.get('a')
    a_time = time.monotonic() - t_start
    tap.ok(ra is not None and ra.status == 200 and boot_line(ra.text()),
           'concurrency: slow machine A gets its script', ra)
    tap.ok(ra is not None and 2.5 <= ra.elapsed <= 4.9, f'concurrency: A answered after ~3 s ({a_time:.2f} s)')

    # two slow machines pending at once (both API calls in flight): a third is still not delayed
    res = {}
    ts = [threading.Thread(target=lambda m=m: res.update({m: env.script(m, timeout=15)})) for m in (M_SLOW2, M_SLOW3)]
    for t in ts:
        t.start()
    pending = False
    for _ in range(40):
        c = env.calls()
        if c and c['in_flight'] >= 2:
            pending = True
            break
        time.sleep(0.05)
    tap.ok(pending, 'concurrency: two slow API calls pending at once')
    rb = env.script(M_C)
    tap.ok(rb.status == 200 and boot_line(rb.text()) and rb.elapsed < 0.5,
           f'concurrency: a third machine answered in {rb.elapsed:.3f} s (< 0.5 s) while two are pending', rb)
    for t in ts:
        t.join(20)

    # two simultaneous requests for one machine share one API call
    c0 = env.count(M_JOIN)
    res = {}
    ts = [threading.Thread(target=lambda i=i: res.update({i: env.script(M_JOIN, timeout=15)})) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    tap.ok(len(res) == 3 and all(r.status == 200 and boot_line(r.text()) for r in res.values()),
           'shared call: three concurrent script fetches all answered')
    tap.eq(env.count(M_JOIN) - c0, 1, 'shared call: three concurrent fetches = 1 API call')


def test_arch_query():
    # a script fetch without a DHCP exchange first (the session is unknown): the URL pixiecore
    # itself hands out carries arch=<option 93>; the API must not be told "arch=0" (BIOS)
    env.script(M_ARCH, arch=7)
    c = env.calls()
    q = (c['queries'].get(M_ARCH) or ['(no call)'])[-1]
    tap.ok(q in ('arch=7&firmware=efi64', 'arch=7') or 'arch=' not in q,
           f'script fetch with arch=7 and no DHCP before: API not told arch=0 (query "{q}")', q)


def test_timeouts():
    # daemon with -api-timeout 1s
    r = env.script(M_SLOW, timeout=10)
    tap.ok(is_refusal(r), 'API slower (3 s) than -api-timeout 1s: refusal script', f'{r} {r.text()[:300]}')
    tap.ok(0.8 <= r.elapsed <= 2.5, f'slow API: refused after ~1 s ({r.elapsed:.2f} s)')
    r = env.script(M_ENDLESS, timeout=10)
    tap.ok(is_refusal(r), 'never-ending API body: refusal script', f'{r} {r.text()[:300]}')
    tap.ok(0.8 <= r.elapsed <= 2.5, f'never-ending body: cut by the whole-call timeout (~1 s, {r.elapsed:.2f} s)')
    r = env.script(M_HAPPY)
    tap.ok(r.status == 200 and boot_line(r.text()), 'after the timeouts, a good machine still gets its script')
    tap.ok(env.alive(), 'daemon alive after API timeouts')
    log = env.log_text()
    tap.ok('did not answer within' in log, 'the timeout is logged')


def test_api_gone():
    r = env.script(M_GONE)
    s = r.text()
    k = image_url(s, 'kernel', 'kernel')
    i1 = image_url(s, 'initrd', 'initrd1')
    if not tap.ok(r.status == 200 and k and i1, 'API gone: script fetched while the API is up'):
        return
    env.stop_fake()
    time.sleep(0.2)
    same(http_get(i1), P['local'], 'API gone: file:// initrd still served')
    r = http_get(k, timeout=10)
    tap.eq(r.status, 502, 'API gone: http kernel fails cleanly with 502')
    tap.ok(r.elapsed < 5, f'API gone: the failure is quick ({r.elapsed:.2f} s)')
    r = env.script(M_GONE)
    tap.ok(r.status == 200 and boot_line(r.text()), 'API gone: a cached answer still gives a script')
    r = env.script(macs(0x40), timeout=10)
    tap.ok(is_refusal(r), 'API gone: a new machine gets a refusal script', r.text()[:300])
    tap.ok(env.alive(), 'API gone: daemon still alive')


def main():
    skip = pxtest.cannot_run(root=False, tools=())
    if skip is not None:
        return skip

    def body():
        env.make_tmp()
        make_payload()
        if not tap.ok(env.start_fake(), 'fake API starts on 127.0.0.1'):
            raise RuntimeError('no fake API')
        tap.diag(f'fake API {env.api}, tmp {env.tmp}')

        if tap.ok(env.start_daemon(), 'daemon starts in API mode on 127.0.0.1 (default timeout and cache)'):
            test_happy()
            test_script_and_refusals()
            test_forged_ids()
            test_upstream_failures()
            test_cache_and_concurrency()
            test_arch_query()
            key = env.path('state/file-id.key')
            tap.ok(os.path.exists(key) and (os.stat(key).st_mode & 0o077) == 0,
                   '-state-dir holds file-id.key, not readable by others')
            tap.eq(env.stop_daemon(), 0, 'daemon exits 0 on SIGTERM')

        # restart with the same state dir: IDs handed out before stay valid
        if tap.ok(env.start_daemon(), 'daemon restarts with the same -state-dir') and SAVED.get('kernel_url'):
            path = SAVED['kernel_url'].split('/', 3)[3]
            same(http_get(f'{env.base}/{path}'), P['kernel'], 'after a restart: a kernel URL from before works')
            path = SAVED['initrd1_url'].split('/', 3)[3]
            same(http_get(f'{env.base}/{path}'), P['local'], 'after a restart: a file:// URL from before works')
            path = SAVED['extra_url'].split('/', 3)[3]
            same(http_get(f'{env.base}/{path}'), P['extra'], 'after a restart: the cmdline URL from before works')

        # another state dir: another key
        started2 = tap.ok(env.start_daemon(state='state2'), 'daemon starts with another -state-dir')
        if started2 and SAVED.get('kernel_url'):
            before = env.calls()['files']
            for name in ('kernel_url', 'initrd1_url', 'extra_url'):
                path = SAVED[name].split('/', 3)[3]
                tap.eq(http_get(f'{env.base}/{path}').status, 403,
                       f'another -state-dir: {name[:-4]} ID from before: 403')
            tap.eq(env.calls()['files'], before, 'another -state-dir: no upstream fetch for foreign IDs')

        if tap.ok(env.start_daemon('-api-cache-time', '0'), 'daemon starts with -api-cache-time 0'):
            c0 = env.count(M_CACHE)
            r1, r2 = env.script(M_CACHE), env.script(M_CACHE)
            tap.ok(r1.status == 200 and r2.status == 200 and boot_line(r2.text()), '-api-cache-time 0: both answered')
            tap.eq(env.count(M_CACHE) - c0, 2, '-api-cache-time 0: two script fetches = 2 API calls')

        if tap.ok(env.start_daemon('-api-timeout', '1s'), 'daemon starts with -api-timeout 1s'):
            test_timeouts()
            test_api_gone()
            tap.eq(env.stop_daemon(), 0, 'daemon exits 0 on SIGTERM after the API went away')

    return pxtest.run(body, env, tail=2500)


if __name__ == '__main__':
    sys.exit(main())
