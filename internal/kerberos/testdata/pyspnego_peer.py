"""An independent Kerberos peer for the Go tests: pyspnego (MIT GSSAPI
underneath) and pypsrp's WinRM message encryption.

  pyspnego_peer.py client URL HOSTNAME PROTOCOL N
      pyspnego initiator (ticket cache from KRB5CCNAME, krb5.conf from
      KRB5_CONFIG) against a WinRM-style server: empty POST, 401, the
      handshake on the same connection, then N sealed messages through
      pypsrp's WinRMEncryption. Prints one JSON object.

  pyspnego_peer.py server
      pyspnego acceptor (keytab from KRB5_KTNAME) serving the same
      WinRM-style exchange on 127.0.0.1; prints the port on the first line,
      echoes every decrypted message back sealed as "pyspnego got: <msg>".
      Runs until stdin closes.
"""

import base64
import http.client
import http.server
import json
import re
import sys
import threading
import urllib.parse

import spnego
from pypsrp.encryption import WinRMEncryption


def token_of(header, scheme):
    for part in (header or "").split(","):
        name, _, rest = part.strip().partition(" ")
        if name.lower() == scheme.lower() and rest.strip():
            return base64.b64decode(rest.strip())
    return None


def boundary_of(content_type):
    m = re.search(r'boundary="([^"]+)"', content_type or "")
    return m.group(1) if m else "Encrypted Boundary"


def run_client(url, hostname, protocol, count):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", u.path or "/", body=b"", headers={"Content-Length": "0"})
    resp = conn.getresponse()
    resp.read()
    if resp.status != 401:
        raise SystemExit("first POST: status %d, want 401" % resp.status)
    offers = resp.getheader("WWW-Authenticate", "")
    # pypsrp's order: Negotiate first, then Kerberos.
    scheme = "Negotiate" if "negotiate" in offers.lower() else "Kerberos"
    ctx = spnego.client(hostname=hostname, service="HTTP", protocol=protocol,
                        options=spnego.NegotiateOptions.wrapping_winrm)
    out = ctx.step()
    status = None
    while out is not None:
        conn.request("POST", u.path or "/", body=b"",
                     headers={"Authorization": "%s %s" % (scheme, base64.b64encode(out).decode()),
                              "Content-Length": "0"})
        resp = conn.getresponse()
        resp.read()
        status = resp.status
        tok = token_of(resp.getheader("WWW-Authenticate"), scheme)
        if tok is None:
            break
        out = ctx.step(tok)
    if not ctx.complete:
        raise SystemExit("context not complete after the handshake (status %s)" % status)
    enc = WinRMEncryption(ctx, WinRMEncryption.SPNEGO if scheme == "Negotiate" else WinRMEncryption.KERBEROS)
    replies = []
    for i in range(count):
        msg = ("<s:Envelope>pyspnego message %d %s</s:Envelope>" % (i, "y" * (i * 500))).encode()
        content_type, body = enc.wrap_message(msg)
        conn.request("POST", u.path or "/", body=body,
                     headers={"Content-Type": content_type, "Content-Length": str(len(body))})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise SystemExit("message %d: status %d: %r" % (i, resp.status, data[:200]))
        ct = resp.getheader("Content-Type")
        replies.append(enc.unwrap_message(data, boundary_of(ct)).decode())
    print(json.dumps({"scheme": scheme, "replies": replies}))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one handler per connection

    def log_message(self, *args):
        pass

    def reply(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authz = self.headers.get("Authorization")
        if authz:
            scheme = authz.split(" ", 1)[0]
            tok = token_of(authz, scheme)
            proto = "kerberos" if scheme.lower() == "kerberos" else "negotiate"
            self.ctx = spnego.server(service="HTTP", protocol=proto)
            out = self.ctx.step(tok)
            headers = []
            if out:
                headers.append(("WWW-Authenticate", "%s %s" % (scheme, base64.b64encode(out).decode())))
            if not self.ctx.complete:
                self.reply(401, headers)
                return
            self.enc = WinRMEncryption(
                self.ctx, WinRMEncryption.KERBEROS if proto == "kerberos" else WinRMEncryption.SPNEGO)
            self.reply(200, headers)
            return
        if getattr(self, "enc", None) is None:
            self.reply(401, [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "Kerberos")])
            return
        plain = self.enc.unwrap_message(body, boundary_of(self.headers.get("Content-Type")))
        ct, out = self.enc.wrap_message(b"pyspnego got: " + plain)
        self.reply(200, [("Content-Type", ct)], out)


def run_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(srv.server_address[1], flush=True)
    sys.stdin.read()
    srv.shutdown()


if __name__ == "__main__":
    if sys.argv[1] == "client":
        run_client(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        run_server()
