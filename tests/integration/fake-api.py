#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A controllable fake boot API server for pixiecore's API-mode tests (python3 stdlib only).

Listens on one address (127.0.0.1 by default; the tests also run it inside a network namespace
of their own) and answers

    GET <anything>/v1/boot/<mac>[?query]     the boot API, per-MAC behaviour (below)
    GET /files/<name>, GET <prefix>/files/<name>
                                             upstream files, served in one of several modes
    GET /_calls                              what happened so far, as JSON (below)
    POST /_config                            replace the configuration (JSON body, same format
                                             as --config); counters are kept
    POST /_reset                             zero every counter and the request log

Configuration, from --config FILE (JSON; re-read whenever its mtime changes), POST /_config
and/or the command line (which wins):

    {
      "default": BEHAVIOUR,                  for MACs without an entry (default: {"status": 404})
      "macs": {"52:54:00:12:34:56": BEHAVIOUR, ...},
      "files": {"kernel": FILE, ...}
    }

BEHAVIOUR (an object; every key optional):
    "status": 200                HTTP status of the answer
    "delay": 0                   seconds to sleep before answering (bounded by --max-time)
    "json": {...}                the answer, serialised (default {} for 200)
    "body": "text"               the answer verbatim instead (garbage JSON, wrong types, ...)
    "huge": N                    a syntactically valid JSON object of about N bytes
    "endless": S                 200 + a JSON prefix, then one byte every 0.1 s for S seconds
                                 (bounded by --max-time), without Content-Length
    "chunked": false             send the answer chunked instead of with Content-Length
A BEHAVIOUR may also be a preset string, the same as on the command line:
    happy | 404 | 500 | <status> | slow:S (happy after S s) | garbage | types | huge[:N] |
    huge-chunked[:N] | endless[:S] | script (an ipxe-script answer)

FILE (an object):
    "path": "/abs/file" or "data": "text" or "size": N (deterministic bytes, "seed" optional)
    "mode": "normal" | "chunked" (no Content-Length) | "eof" (no Content-Length, HTTP/1.0
            style end by close) | "die" (Content-Length, then the connection is cut after
            "after" bytes, default half) | "slow" (Content-Length, "rate" bytes/s, default
            64 KiB/s) | "status" (answer "status" with a short body)

GET /_calls returns
    {"calls": {"<mac>": N, ...}, "total": N, "queries": {"<mac>": ["arch=7&firmware=efi64", ...]},
     "paths": {"<request path without query>": N, ...}, "files": {"<path>": N, ...},
     "in_flight": N}
"calls" counts API requests per MAC (as written in the path, lower-cased), "files" counts file
requests per path as requested (so a test can tell /prefix/files/x from /files/x).

Command line:
    --listen ADDR (127.0.0.1) --port N (0 = any free port) --prefix /prefix (where
    <prefix>/files/ is served besides /files/) --config FILE --mac MAC=PRESET (repeatable)
    --default PRESET --file NAME=PATH[:MODE] (repeatable) --max-time S (30: bound for every
    sleep and stream) --port-file FILE (the chosen port is written there)
On start it prints "listening on http://ADDR:PORT/" and flushes. SIGTERM/SIGINT stop it.
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')

HAPPY = {
    'kernel': 'files/kernel',
    'initrd': ['files/initrd-a', '/files/initrd-b'],
    'cmdline': 'console=ttyS0 pxl.url={{ URL "files/extra.txt" }} quiet',
    'message': 'Booting from the fake API',
}


def preset(text):
    """A behaviour from a command-line word."""
    name, _, arg = text.partition(':')
    if name == 'happy':
        return {'json': HAPPY}
    if name.isdigit():
        return {'status': int(name), 'body': f'fake-api: {name}\n'}
    if name == 'slow':
        return {'json': HAPPY, 'delay': float(arg or 3)}
    if name == 'garbage':
        return {'body': '{"kernel": "files/kernel", this is not JSON'}
    if name == 'types':
        return {'body': '{"kernel": 42, "initrd": "files/initrd-a", "cmdline": ["x"]}'}
    if name == 'huge':
        return {'huge': int(arg or 2 * 1024 * 1024)}
    if name == 'huge-chunked':
        return {'huge': int(arg or 2 * 1024 * 1024), 'chunked': True}
    if name == 'endless':
        return {'endless': float(arg or 20)}
    if name == 'script':
        return {'json': {'ipxe-script': '#!ipxe\necho fake ipxe script\nexit 0\n'}}
    raise ValueError(f'unknown behaviour preset {text!r}')


def normalise_behaviour(b):
    return preset(b) if isinstance(b, str) else dict(b or {})


def deterministic_bytes(size, seed):
    rng = random.Random(seed)
    return rng.randbytes(size) if hasattr(rng, 'randbytes') else bytes(rng.getrandbits(8) for _ in range(size))


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.config_mtime = None
        self.file_config = {}
        self.posted = None
        self.reset()

    def reset(self):
        with self.lock:
            self.calls = {}
            self.queries = {}
            self.paths = {}
            self.files = {}
            self.total = 0
            self.in_flight = 0

    def config(self):
        """The configuration in force: --config file (reloaded on change), then POST /_config,
        then the command line."""
        a = self.args
        if a.config:
            try:
                mtime = os.stat(a.config).st_mtime_ns
                if mtime != self.config_mtime:
                    with open(a.config) as f:
                        self.file_config = json.load(f)
                    self.config_mtime = mtime
            except (OSError, ValueError) as e:
                print(f'fake-api: cannot read {a.config}: {e}', file=sys.stderr, flush=True)
        base = self.posted if self.posted is not None else self.file_config
        macs = {k.lower(): normalise_behaviour(v) for k, v in (base.get('macs') or {}).items()}
        files = dict(base.get('files') or {})
        default = normalise_behaviour(base.get('default', {'status': 404, 'body': 'fake-api: unknown machine\n'}))
        for spec in a.mac:
            mac, _, word = spec.partition('=')
            macs[mac.lower()] = preset(word)
        if a.default:
            default = preset(a.default)
        for spec in a.file:
            name, _, rest = spec.partition('=')
            path, _, mode = rest.partition(':')
            files[name] = {'path': path, 'mode': mode or 'normal'}
        return {'macs': macs, 'files': files, 'default': default}


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'fake-api/1'

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write('fake-api: %s - %s\n' % (self.address_string(), fmt % args))

    # -- helpers ------------------------------------------------------------------------

    def send_simple(self, status, body, content_type='text/plain', close=False):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        if close:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def write_chunk(self, data):
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))

    def bounded_sleep(self, seconds):
        time.sleep(max(0.0, min(float(seconds), self.server.state.args.max_time)))

    # -- dispatch -----------------------------------------------------------------------

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        st = self.server.state
        parts = urlsplit(self.path)
        path = parts.path
        with st.lock:
            st.paths[path] = st.paths.get(path, 0) + 1
        try:
            if path == '/_calls':
                with st.lock:
                    doc = {'calls': st.calls, 'total': st.total, 'queries': st.queries, 'paths': st.paths,
                           'files': st.files, 'in_flight': st.in_flight}
                    body = json.dumps(doc, sort_keys=True)
                self.send_simple(200, body, 'application/json')
                return
            m = re.search(r'/v1/boot/([^/?]*)$', path)
            if m:
                self.api(m.group(1).lower(), parts.query)
                return
            m = re.search(r'(^|/)files/([^/]+)$', path)
            if m:
                prefix = path[:m.start(2) - len('files/')].rstrip('/')
                if prefix in ('', st.args.prefix.rstrip('/')):
                    self.file(m.group(2), path)
                    return
            self.send_simple(404, f'fake-api: nothing at {path}\n')
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    def do_POST(self):
        st = self.server.state
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(min(length, 16 * 1024 * 1024))
        if self.path == '/_reset':
            st.reset()
            self.send_simple(200, '{}', 'application/json')
        elif self.path == '/_config':
            try:
                doc = json.loads(body or b'{}')
                for b in (doc.get('macs') or {}).values():
                    normalise_behaviour(b)
            except ValueError as e:
                self.send_simple(400, f'bad config: {e}\n')
                return
            st.posted = doc
            self.send_simple(200, '{}', 'application/json')
        else:
            self.send_simple(404, 'fake-api: POST /_config or /_reset only\n')

    # -- the boot API ---------------------------------------------------------------------

    def api(self, mac, query):
        st = self.server.state
        cfg = st.config()
        with st.lock:
            st.calls[mac] = st.calls.get(mac, 0) + 1
            st.queries.setdefault(mac, []).append(query)
            st.total += 1
            st.in_flight += 1
        try:
            b = cfg['macs'].get(mac) if MAC_RE.match(mac) else None
            if b is None:
                b = cfg['default']
            if b.get('delay'):
                self.bounded_sleep(b['delay'])
            status = int(b.get('status', 200))
            if 'endless' in b:
                self.endless(float(b['endless']))
                return
            if 'huge' in b:
                n = int(b['huge'])
                pad = max(0, n - 40)
                body = ('{"kernel": "files/kernel", "pad": "' + 'a' * pad + '"}').encode()
            elif 'body' in b:
                body = b['body'].encode()
            else:
                body = json.dumps(b.get('json', {})).encode()
            ctype = 'application/json' if status == 200 else 'text/plain'
            if b.get('chunked'):
                self.send_response(status)
                self.send_header('Content-Type', ctype)
                self.send_header('Transfer-Encoding', 'chunked')
                self.end_headers()
                for i in range(0, len(body), 65536):
                    self.write_chunk(body[i:i + 65536])
                self.wfile.write(b'0\r\n\r\n')
            else:
                self.send_simple(status, body, ctype)
        finally:
            with st.lock:
                st.in_flight -= 1

    def endless(self, seconds):
        """200 with a never-finished JSON body, one byte every 0.1 s, until the client gives
        up or the bound is reached; then the connection is closed."""
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Connection', 'close')
        self.close_connection = True
        self.end_headers()
        self.wfile.write(b'{"kernel": "files/kernel", "pad": "')
        self.wfile.flush()
        deadline = time.monotonic() + min(seconds, self.server.state.args.max_time)
        while time.monotonic() < deadline:
            self.wfile.write(b'a')
            self.wfile.flush()
            time.sleep(0.1)

    # -- upstream files -------------------------------------------------------------------

    def file(self, name, path):
        st = self.server.state
        with st.lock:
            st.files[path] = st.files.get(path, 0) + 1
        spec = st.config()['files'].get(name)
        if spec is None:
            self.send_simple(404, f'fake-api: no file {name}\n')
            return
        mode = spec.get('mode', 'normal')
        if mode == 'status':
            self.send_simple(int(spec.get('status', 500)), f'fake-api: {name} is broken\n')
            return
        if 'path' in spec:
            try:
                with open(spec['path'], 'rb') as f:
                    data = f.read()
            except OSError as e:
                self.send_simple(404, f'fake-api: {e}\n')
                return
        elif 'data' in spec:
            data = spec['data'].encode()
        else:
            data = deterministic_bytes(int(spec.get('size', 0)), spec.get('seed', name))
        if spec.get('delay'):
            self.bounded_sleep(spec['delay'])

        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        if mode == 'chunked':
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            if self.command != 'HEAD':
                for i in range(0, len(data), 65536):
                    self.write_chunk(data[i:i + 65536])
                self.wfile.write(b'0\r\n\r\n')
            return
        if mode == 'eof':
            self.send_header('Connection', 'close')
            self.close_connection = True
            self.end_headers()
            if self.command != 'HEAD':
                self.wfile.write(data)
            return
        self.send_header('Content-Length', str(len(data)))
        if mode == 'die':
            self.send_header('Connection', 'close')
        self.end_headers()
        if self.command == 'HEAD':
            return
        if mode == 'die':
            after = int(spec.get('after', len(data) // 2))
            self.wfile.write(data[:after])
            self.wfile.flush()
            self.bounded_sleep(spec.get('die_delay', 0.2))
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if mode == 'slow':
            rate = max(1, int(spec.get('rate', 65536)))
            step = max(1, rate // 10)
            deadline = time.monotonic() + st.args.max_time
            for i in range(0, len(data), step):
                if time.monotonic() > deadline:
                    break
                self.wfile.write(data[i:i + step])
                self.wfile.flush()
                time.sleep(0.1)
            return
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main(argv=None):
    p = argparse.ArgumentParser(description='Fake pixiecore boot API server (tests only).')
    p.add_argument('--listen', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--port-file', help='write the chosen port here')
    p.add_argument('--prefix', default='/prefix', help='also serve <prefix>/files/ (default /prefix)')
    p.add_argument('--config', help='JSON configuration file (re-read when it changes)')
    p.add_argument('--mac', action='append', default=[], metavar='MAC=PRESET')
    p.add_argument('--default', metavar='PRESET', help='behaviour for other MACs (default 404)')
    p.add_argument('--file', action='append', default=[], metavar='NAME=PATH[:MODE]')
    p.add_argument('--max-time', type=float, default=30.0, help='bound for every sleep and stream (s)')
    p.add_argument('--verbose', action='store_true', help='log every request to stderr')
    a = p.parse_args(argv)
    try:
        for spec in a.mac:
            preset(spec.partition('=')[2])
        if a.default:
            preset(a.default)
    except ValueError as e:
        p.error(str(e))

    server = Server((a.listen, a.port), Handler)
    server.state = State(a)
    port = server.server_address[1]
    if a.port_file:
        with open(a.port_file + '.tmp', 'w') as f:
            f.write(f'{port}\n')
        os.rename(a.port_file + '.tmp', a.port_file)

    def stop(signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f'listening on http://{a.listen}:{port}/', flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
