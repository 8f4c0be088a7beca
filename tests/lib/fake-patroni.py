#!/usr/bin/python3
"""fake-patroni.py: a fake Patroni REST API for balloond's tests.

    fake-patroni.py --state FILE --log FILE --port P [--port P ...]
                    [--tls-cert PEM --tls-key KEY [--tls-client-ca PEM]]
                    [--auth USER:PASSWORD] [--http10]

Serves GET /cluster and GET /patroni on 127.0.0.1, one listener per port
(one per fake member), with answers read from the JSON state file on every
request, so that a test switches them by rewriting the file (atomically:
write a temporary file, then rename). The state maps each port (as a
string) to {"mode": M, "cluster": OBJ, "patroni": OBJ}; a port missing from
it answers 503. Modes:

    ok            200 with the object as JSON
    garbage       200 with a body that is not JSON
    big           200 with a JSON body over 256 KiB
    slow:MS       the ok answer after MS milliseconds
    reset         close the connection without an answer
    status:CODE   CODE with the object as JSON

With --tls-cert it speaks HTTPS (with --tls-client-ca it requires a client
certificate signed by that CA, as Patroni's restapi.verify_client does);
with --auth every request needs that basic authentication (else 401, as
Patroni's restapi.authentication); with --http10 it answers HTTP/1.0 and
closes every connection after one answer, as Patroni 3.0's API does.

Every request is logged to the log file as "T_NS PORT PATH" (monotonic
nanoseconds) when it arrives. A state with a top-level "gen" also has each
request it answers noted in LOG.seen as "T_NS PORT PATH GEN", so that a
test knows which state answered. A port 0 is any free port: prints "ready P1 P2 ..." (the
ports, in order) once every port listens.
"""
import argparse
import base64
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def handler_for(port, state_path, log_path, lock, auth, http10=False):
    class Handler(http.server.BaseHTTPRequestHandler):
        # Patroni 3.0's API keeps http.server's default, HTTP/1.0: one
        # request per connection (--http10).
        protocol_version = "HTTP/1.0" if http10 else "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            path = self.path.split("?")[0]
            with lock, open(log_path, "a") as f:
                f.write("%d %d %s\n" % (time.monotonic_ns(), port, path))
            if auth and self.headers.get("Authorization") != "Basic " + auth:
                return self.answer(401, b'{"error": "no auth"}')
            try:
                with open(state_path) as f:
                    doc = json.load(f)
                st = doc.get(str(port))
            except (OSError, ValueError):
                doc, st = {}, None
            if "gen" in doc:
                # Which state answered: the log above is written before
                # the state is read, so its time cannot say.
                with lock, open(log_path + ".seen", "a") as f:
                    f.write("%d %d %s %s\n" % (time.monotonic_ns(), port, path, doc["gen"]))
            if st is None:
                return self.answer(503, b'{"error": "no state"}')
            mode = st.get("mode", "ok")
            key = path.strip("/")
            obj = st.get(key)
            if obj is None:
                return self.answer(404, b'{"error": "not found"}')
            body = json.dumps(obj).encode()
            if mode == "garbage":
                return self.answer(200, b"<html>not json</html>")
            if mode == "big":
                pad = "x" * (300 * 1024)
                return self.answer(200, json.dumps({"members": [], "pad": pad}).encode())
            if mode.startswith("slow:"):
                time.sleep(int(mode[5:]) / 1000)
                return self.answer(200, body)
            if mode == "reset":
                self.close_connection = True
                return
            if mode.startswith("status:"):
                return self.answer(int(mode[7:]), body)
            return self.answer(200, body)

        def answer(self, code, body):
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port", type=int, action="append", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca")
    ap.add_argument("--auth")
    ap.add_argument("--http10", action="store_true")
    a = ap.parse_args()
    auth = base64.b64encode(a.auth.encode()).decode() if a.auth else None
    ctx = None
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        if a.tls_client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(a.tls_client_ca)
    lock = threading.Lock()
    servers = []
    for p in a.port:
        s = Server(("127.0.0.1", p), None)
        s.RequestHandlerClass = handler_for(s.server_address[1], a.state, a.log, lock, auth, a.http10)
        if ctx:
            # The handshake happens in the request's own thread, so that a
            # client that fails it holds up no other.
            s.socket = ctx.wrap_socket(s.socket, server_side=True,
                                       do_handshake_on_connect=False)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
    print("ready " + " ".join(str(s.server_address[1]) for s in servers), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
