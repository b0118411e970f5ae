# Writes pypsrp_*.xml beside this file: the envelopes pypsrp (the reference
# PSRP client, proven against Exchange) sends for Create, Receive, Command,
# Send, Signal and Delete. envelope_test.go compares their shape with ours.
# Run: python3 testdata/pypsrp_envelopes.py testdata
import sys
from pypsrp.wsman import WSMan
from pypsrp.powershell import RunspacePool
from pypsrp.shell import SignalCode
out = sys.argv[1]
sent=[]
class Stop(Exception): pass
class T:
    endpoint="http://ex01.contoso.test/PowerShell/"
    def send(self, xml, **kw):
        sent.append(xml); raise Stop()
w=WSMan.__new__(WSMan)
w.session_id="11111111-2222-3333-4444-555555555555"; w.locale="en-US"; w.data_locale="en-US"; w.max_envelope_size=153600; w.operation_timeout=20
w.transport=T(); w.max_payload_size=w._calc_envelope_size(153600)
pool=RunspacePool(w, configuration_name="Microsoft.Exchange")
cid="BBBBBBBB-0000-0000-0000-000000000002"
def run(name, f):
    try: f()
    except Stop: pass
    open(f"{out}/pypsrp_{name}.xml","wb").write(sent[-1])
run("create", pool.open)
pool.shell.id="AAAAAAAA-0000-0000-0000-000000000001"
from pypsrp.wsman import SelectorSet
ss=SelectorSet(); ss.add_option("ShellId", pool.shell.id); pool.shell._selector_set=ss
run("receive_pool", lambda: pool.shell.receive("stdout"))
run("receive_pipeline", lambda: pool.shell.receive("stdout", command_id=cid))
run("command", lambda: pool.shell.command("", arguments=["ZGF0YQ=="], command_id=cid))
run("send_pipeline", lambda: pool.shell.send("stdin", b"data", command_id=cid))
run("signal", lambda: pool.shell.signal("powershell/signal/crtl_c", cid))
pool.shell.opened = True
run("delete", lambda: pool.shell.close())
