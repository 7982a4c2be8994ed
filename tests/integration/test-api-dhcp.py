#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""API mode on the wire: ProxyDHCP (67), PXE boot server (4011) and the boot script, with the
decision made by tests/integration/fake-api.py.

Creates two network namespaces of its own, "server" and "client", joined by a veth pair
(10.79.X.1/24 server side, 10.79.X.2/24 client side; X derived from the pid). Runs the fake
API on 127.0.0.1 inside the server namespace and pixiecore there too (-api
http://127.0.0.1:Q/; it binds 0.0.0.0:67, :4011 and :80 there, TFTP off), and
tests/integration/pxe-client.py in the client namespace.

Checks: an accepted MAC gets an OFFER, a refused one (404) none (neither on 67 nor on 4011);
the API is asked with ?arch=<93>&firmware=<class>; a slow API for machine A (3 s) does not
delay the OFFER to machine B; the firmware DISCOVER, the 4011 request, iPXE's DISCOVER and
the script fetch of one machine cost exactly one API call.

Needs root (namespaces). Prints TAP; exits 0 when every test passed, 1 otherwise, 77 (skip)
without root or `ip`. All traffic stays inside the two namespaces, which are deleted at exit
(also on failure or SIGTERM). Every wait is bounded.

Environment: PIXIECORE, PX_SOURCE_ROOT, PXT_SUBNET_X (third octet), PXT_KEEP=1.
"""

import hashlib
import json
import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pxtest  # noqa: E402
from pxtest import PYTHON, dashed, opt, tap  # noqa: E402

pxtest.scrub_environment()

M_OK = '52:54:00:b0:00:01'       # BIOS, accepted
M_REFUSED = '52:54:00:b0:00:02'  # 404
M_EFI = '52:54:00:b0:00:07'      # EFI, accepted
M_SLOW = '52:54:00:b0:00:0a'     # accepted after 3 s
M_FAST = '52:54:00:b0:00:0b'     # accepted at once
M_FLOW_EFI = '52:54:00:b0:00:10'
M_FLOW_BIOS = '52:54:00:b0:00:11'
M_500 = '52:54:00:b0:00:12'
M_SLOW2 = '52:54:00:b0:00:13'    # accepted after 3 s
M_SLOW3 = '52:54:00:b0:00:14'    # accepted after 3 s
M_FAST2 = '52:54:00:b0:00:15'    # accepted at once

# Runs inside a namespace: one HTTP GET, prints {"status", "body", "elapsed"} as JSON.
HTTP_GET = r'''
import hashlib, http.client, json, sys, time
host, port, path, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
t = time.monotonic()
try:
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    c.request('GET', path)
    r = c.getresponse()
    body = r.read()
    print(json.dumps({'status': r.status, 'body': body.decode('utf-8', 'replace'), 'len': len(body),
                      'sha256': hashlib.sha256(body).hexdigest(), 'elapsed': time.monotonic() - t}))
except Exception as e:
    print(json.dumps({'status': None, 'body': '', 'error': repr(e), 'elapsed': time.monotonic() - t}))
'''


class Lab(pxtest.Lab):
    def __init__(self):
        super().__init__('pxa', '10.79', 'pxt-api-dhcp-')

    def make_payload(self):
        self.kernel = self.file('vmlinuz', b'KERNEL' + os.urandom(4090))
        self.initrd = self.file('initrd.img', b'INITRD' + os.urandom(1000))
        self.loaders = {n: self.file(n, f'fake {n}\n'.encode()) for n in ('undionly.kpxe', 'ipxe.efi', 'ipxe.pxe')}
        self.config = self.file('pixiecore.conf', b'[pixiecore]\n')
        happy = {'kernel': 'files/kernel', 'initrd': ['file://' + self.initrd], 'cmdline': 'console=ttyS0'}
        cfg = {
            'default': {'status': 404},
            'macs': {
                M_OK: {'json': happy}, M_EFI: {'json': happy}, M_FAST: {'json': happy},
                M_FLOW_EFI: {'json': happy}, M_FLOW_BIOS: {'json': happy},
                M_SLOW: {'json': happy, 'delay': 3},
                M_SLOW2: {'json': happy, 'delay': 3},
                M_SLOW3: {'json': happy, 'delay': 3},
                M_FAST2: {'json': happy},
                M_REFUSED: {'status': 404, 'body': 'no\n'},
                M_500: {'status': 500, 'body': 'oops\n'},
            },
            'files': {'kernel': {'path': self.kernel}},
        }
        self.fake_config = self.file('fake.json', json.dumps(cfg).encode())

    def http(self, ns, host, port, path, timeout=5.0):
        try:
            p = subprocess.run(['ip', 'netns', 'exec', ns, PYTHON, '-c', HTTP_GET, host, str(port), path, str(timeout)],
                               capture_output=True, text=True, timeout=timeout + 10)
            return json.loads(p.stdout)
        except (subprocess.TimeoutExpired, ValueError) as e:
            return {'status': None, 'body': '', 'error': repr(e)}

    def calls(self):
        r = self.http(self.srv, '127.0.0.1', self.fake_port, '/_calls')
        return json.loads(r['body']) if r.get('status') == 200 else {'calls': {}, 'queries': {}, 'in_flight': 0}

    def count(self, mac):
        return self.calls()['calls'].get(mac, 0)

    def start_daemon(self, *extra):
        L = self.loaders
        args = ['-config', self.config, '-api', f'http://127.0.0.1:{self.fake_port}/', '-debug',
                '-port-tftp', '0', '-state-dir', os.path.join(self.tmp, 'state'),
                '-ipxe-bios', L['undionly.kpxe'], '-ipxe-efi64', L['ipxe.efi'], '-ipxe-ipxe', L['ipxe.pxe'], *extra]
        if self.launch_daemon(args):
            return True
        self.diag_not_started()
        return False

    def client(self, *args, **kwargs):
        return super().client(*args, match_xid=True, **kwargs)


lab = Lab()


def first_reply(res):
    return res['replies'][0] if res and res.get('replies') else None


def discover(mac, xid, *args, timeout=3.0, src_port=68, to=None, port=67):
    a = ['--mac', mac, '--xid', hex(xid), *args]
    if to:
        a += ['--to', to, '--port', port]
    return lab.client(*a, timeout=timeout, replies=1, src_port=src_port)


def script_path(mac, arch):
    return f'/_/ipxe?mac={mac}&arch={arch}'


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

def test_accept_refuse():
    res = discover(M_OK, 0x10000001, '--arch', '0')
    r = first_reply(res)
    if tap.ok(r is not None, 'accepted MAC (BIOS): OFFER', lab.log_text()[-1500:]):
        tap.eq(opt(r, 53), b'\x02', 'accepted MAC: DHCPOFFER')
        tap.eq(r.get('file'), f'{dashed(M_OK)}/undionly.kpxe', 'accepted MAC: boot file')
        tap.eq(r.get('siaddr'), lab.server_ip, 'accepted MAC: siaddr')
    q = lab.calls()['queries'].get(M_OK, [])
    tap.eq(q[:1], ['arch=0&firmware=bios'], 'BIOS DISCOVER: API asked with ?arch=0&firmware=bios')

    res = lab.client('--mac', M_REFUSED, '--xid', '0x10000002', '--arch', '0', timeout=1.5)
    tap.ok(res is not None and not res['replies'], 'refused MAC (API 404): no OFFER within 1.5 s', res)
    res = lab.client('--mac', M_REFUSED, '--xid', '0x10000003', '--type', 'request', '--arch', '7', '--ciaddr',
                     lab.client_ip, '--to', lab.server_ip, '--port', '4011', timeout=1.5)
    tap.ok(res is not None and not res['replies'], 'refused MAC: no ACK on 4011 either', res)
    res = lab.client('--mac', M_500, '--xid', '0x10000004', '--arch', '7', timeout=1.5)
    tap.ok(res is not None and not res['replies'], 'API 500: no OFFER', res)
    res = lab.client('--mac', '52:54:00:b0:00:99', '--xid', '0x10000005', '--arch', '0', timeout=1.5)
    tap.ok(res is not None and not res['replies'], 'unknown MAC (fake default 404): no OFFER', res)
    log = lab.log_text()
    tap.ok(f'{M_REFUSED}' in log and 'not booting this machine' in log, 'the refusal is logged')

    res = discover(M_EFI, 0x10000007, '--arch', '7')
    r = first_reply(res)
    if tap.ok(r is not None, 'accepted MAC (EFI, 93=7): OFFER'):
        tap.eq(r.get('file'), f'{dashed(M_EFI)}/ipxe.efi', 'EFI: boot file ipxe.efi')
    q = lab.calls()['queries'].get(M_EFI, [])
    tap.eq(q[:1], ['arch=7&firmware=efi64'], 'EFI DISCOVER: API asked with ?arch=7&firmware=efi64')
    tap.ok(lab.alive(), 'daemon alive')


def test_slow_does_not_block():
    # Times are wall clock around pxe-client runs (their python start-up, ~0.1 s, included):
    # pxe-client's own "at" field is the time before its last wait, not the arrival time.
    res = {}

    def run_a():
        t0 = time.monotonic()
        res['a'] = discover(M_SLOW, 0x20000001, '--arch', '0', timeout=6.0)
        res['a_time'] = time.monotonic() - t0

    t = threading.Thread(target=run_a)
    t.start()
    pending = False
    for _ in range(60):
        c = lab.calls()
        if c['calls'].get(M_SLOW) and c['in_flight'] >= 1:
            pending = True
            break
        time.sleep(0.05)
    tap.ok(pending, 'slow API: the call for machine A is pending')
    t0 = time.monotonic()
    b = discover(M_FAST, 0x20000002, '--arch', '0', timeout=2.0)
    b_time = time.monotonic() - t0
    rb = first_reply(b)
    tap.ok(rb is not None and b_time < 0.5,
           f'slow API for A: B\'s OFFER arrives within 0.5 s while A is pending ({b_time:.3f} s)', b)
    tap.ok(lab.calls()['in_flight'] >= 1, 'A was still pending when B got its OFFER')
    t.join(15)
    ra = first_reply(res.get('a'))
    a_time = res.get('a_time')
    tap.ok(ra is not None, 'slow API: A gets its OFFER', res.get('a'))
    tap.ok(a_time is not None and 2.8 <= a_time <= 4.5, f'slow API: A\'s OFFER arrives after ~3 s ({a_time:.2f} s)')


def test_two_slow_do_not_block():
    # two machines whose API calls hang at once must not hold up a third one either
    res = {}

    def run(mac, xid):
        res[mac] = discover(mac, xid, '--arch', '0', timeout=6.0)

    ts = [threading.Thread(target=run, args=(m, x)) for m, x in ((M_SLOW2, 0x21000001), (M_SLOW3, 0x21000002))]
    for t in ts:
        t.start()
    pending = False
    for _ in range(60):
        if lab.calls()['in_flight'] >= 2:
            pending = True
            break
        time.sleep(0.05)
    tap.ok(pending, 'two slow API calls (A1, A2) pending at once')
    t0 = time.monotonic()
    b = discover(M_FAST2, 0x21000003, '--arch', '0', timeout=5.0)
    b_time = time.monotonic() - t0
    tap.ok(first_reply(b) is not None and b_time < 0.5,
           f'two slow API calls pending: a third machine\'s OFFER within 0.5 s ({b_time:.3f} s)', b)
    for t in ts:
        t.join(15)
    tap.ok(all(first_reply(res.get(m)) for m in (M_SLOW2, M_SLOW3)), 'both slow machines get their OFFER')


def boot_flow(mac, arch, firmware_4011):
    """firmware DISCOVER (+ 4011 for EFI), iPXE DISCOVER, script fetch; returns the API calls."""
    c0 = lab.count(mac)
    name = f'{"EFI" if arch == 7 else "BIOS"} boot flow'
    r = first_reply(discover(mac, 0x30000000 + arch, '--arch', str(arch)))
    tap.ok(r is not None, f'{name}: firmware DISCOVER gets an OFFER')
    if firmware_4011:
        r = first_reply(discover(mac, 0x30000100 + arch, '--type', 'request', '--arch', str(arch), '--ciaddr',
                                 lab.client_ip, '--boot-item', '80000000', to=lab.server_ip, port=4011,
                                 src_port=4011))
        if tap.ok(r is not None, f'{name}: port-4011 REQUEST gets an ACK'):
            tap.eq(r.get('file'), f'{dashed(mac)}/ipxe.efi', f'{name}: 4011 ACK boot file')
    features = 'http,efi' if arch == 7 else 'http,bzimage'
    r = first_reply(discover(mac, 0x30000200 + arch, '--arch', str(arch), '--user-class', 'iPXE',
                             '--ipxe-features', features))
    want = f'http://{lab.server_ip}{script_path(mac, arch)}'
    if tap.ok(r is not None, f'{name}: iPXE DISCOVER gets an OFFER'):
        tap.eq(r.get('file'), want, f'{name}: iPXE OFFER names the script URL')
    s = lab.http(lab.cli, lab.server_ip, 80, script_path(mac, arch))
    body = s.get('body', '')
    tap.ok(s.get('status') == 200 and '\nkernel --name kernel ' in body and '\nboot kernel' in body,
           f'{name}: script fetched from the client namespace', s)
    kernel = next((line.split()[3] for line in body.splitlines() if line.startswith('kernel --name')), None)
    if kernel:
        path = '/' + kernel.split('/', 3)[3]
        k = lab.http(lab.cli, lab.server_ip, 80, path)
        with open(lab.kernel, 'rb') as f:
            want_sha = hashlib.sha256(f.read()).hexdigest()
        tap.ok(k.get('status') == 200 and k.get('sha256') == want_sha,
               f'{name}: kernel downloads byte-identical through pixiecore', {x: k.get(x) for x in ('status', 'len')})
    n = lab.count(mac) - c0
    tap.eq(n, 1, f'{name}: firmware DISCOVER{" + 4011 REQUEST" if firmware_4011 else ""} + iPXE DISCOVER '
                 f'+ script fetch = exactly 1 API call')
    q = lab.calls()['queries'].get(mac, [])
    want_q = 'arch=7&firmware=efi64' if arch == 7 else 'arch=0&firmware=bios'
    tap.ok(q and all(x == want_q for x in q), f'{name}: API asked with ?{want_q}', q)
    return n


def main():
    skip = pxtest.cannot_run()
    if skip is not None:
        return skip
    calls_per_boot = {}

    def body():
        lab.up()
        lab.make_payload()
        tap.diag(f'server {lab.srv} {lab.server_ip}, client {lab.cli} {lab.client_ip}, tmp {lab.tmp}')
        if not tap.ok(lab.start_fake(lab.fake_config, netns=lab.srv), 'fake API starts in the server namespace'):
            raise RuntimeError('no fake API')
        if tap.ok(lab.start_daemon(), 'daemon starts in API mode in the server namespace'):
            test_accept_refuse()
            test_slow_does_not_block()
            test_two_slow_do_not_block()
            calls_per_boot['efi'] = boot_flow(M_FLOW_EFI, 7, True)
            calls_per_boot['bios'] = boot_flow(M_FLOW_BIOS, 0, False)
            tap.diag(f'API calls per boot: {calls_per_boot}')
            tap.ok(lab.alive(), 'daemon alive at the end')
            tap.eq(lab.stop_daemon(), 0, 'daemon exits 0 on SIGTERM')

    return pxtest.run(body, lab, tail=2500)


if __name__ == '__main__':
    sys.exit(main())
