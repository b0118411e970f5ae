"""Interop peer for internal/psrp tests: drives pypsrp's own code.

Modes (argv[1]):
  keyexchange  - pypsrp's RunspacePool.exchange_keys builds PUBLIC_KEY; the
                 Go side answers with ENCRYPTED_SESSION_KEY; pypsrp then
                 encrypts and decrypts SecureStrings with the negotiated key.
  unpack       - each stdin line is base64 of a PSRP message built by Go;
                 pypsrp unpacks it and prints a JSON summary per line.
  pack         - pypsrp packs client messages; prints base64 lines.
"""
import base64
import json
import sys
import uuid

from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pypsrp import complex_objects as co
from pypsrp import messages as msgs
from pypsrp.powershell import RunspacePool
from pypsrp.serializer import Serializer
from pypsrp.complex_objects import ObjectMeta


def out(*parts):
    print(*parts, flush=True)


def keyexchange():
    class Shell:
        def send(self, stream, data):
            self.sent = data

    class Frag:
        def fragment(self, msg, rpid):
            return [msg]

    class Pool:
        pass

    pool = Pool()
    pool._key_exchanged = False
    pool._exchange_key = None
    pool._fragmenter = Frag()
    pool.shell = Shell()
    pool.id = str(uuid.uuid4())
    pool.session_key_timeout_ms = 60000
    pool._serializer = Serializer()

    def receive():
        pk = pool.shell.sent.public_key
        out("PUBLIC_KEY", pk)
        line = sys.stdin.readline().strip()
        m = msgs.EncryptedSessionKey(session_key=line)

        class M:
            data = m

        RunspacePool._process_encrypted_session_key(pool, M())

    pool._receive = receive
    RunspacePool.exchange_keys(pool)
    ss = pool._serializer.serialize("pässwörd 😀", ObjectMeta("SS"))
    out("SS", ss.text)
    line = sys.stdin.readline().strip()
    from xml.etree import ElementTree as ET
    el = ET.fromstring("<SS>%s</SS>" % line)
    out("PLAIN", json.dumps(pool._serializer.deserialize(el, ObjectMeta("SS"))))

    # The client half: Go's PUBLIC_KEY blob, parsed the way the spec lays it
    # out, gets a session key encrypted by this side.
    blob = base64.b64decode(sys.stdin.readline().strip())
    assert blob[:16] == b"\x06\x02\x00\x00\x00\xa4\x00\x00RSA1\x00\x08\x00\x00", blob[:16]
    e = int.from_bytes(blob[16:20], "little")
    n = int.from_bytes(blob[20:], "little")
    pub = rsa.RSAPublicNumbers(e, n).public_key()
    key = bytes(range(32))
    ct = pub.encrypt(key, padding.PKCS1v15())
    out("ESK", base64.b64encode(b"\x01\x02\x00\x00\x10\x66\x00\x00\x00\xa4\x00\x00" + ct[::-1]).decode())


def excmsg(er):
    exc = er.exception
    if hasattr(exc, "message"):
        return exc.message
    return exc.adapted_properties.get("Message")  # a generic object in pypsrp


def summary(m):
    d = m.data
    s = {"type": m.message_type, "rpid": str(m.rpid), "pid": str(m.pid)}
    name = type(d).__name__
    s["class"] = name
    if name == "SessionCapability":
        s.update(protocol=d.protocol_version, ps=d.ps_version, ser=d.serialization_version)
    elif name == "InitRunspacePool":
        s.update(min=d.min_runspaces, max=d.max_runspaces, apartment=d.apartment_state.value, thread=d.thread_options.value,
                 args=d.application_arguments)
    elif name == "RunspacePoolStateMessage":
        s.update(state=d.state)
        if d.error_record is not None:
            s.update(error=excmsg(d.error_record), fq=d.error_record.fq_error)
    elif name == "PipelineState":
        s.update(state=d.state)
        if d.error_record is not None:
            er = d.error_record
            s.update(error=excmsg(er), fq=er.fq_error, category=er.category)
    elif name == "ErrorRecordMessage":
        s.update(message=excmsg(d), fq=d.fq_error, category=d.category, reason=d.reason,
                 activity=d.activity, target_name=d.target_name, target=d.target_object, str=str(d))
    elif name in ("InformationalRecord", "WarningRecord", "VerboseRecord", "DebugRecord"):
        s.update(message=d.message)
    elif name == "CreatePipeline":
        p = d.pipeline
        s.update(no_input=d.no_input, cmds=[{"cmd": c.cmd, "is_script": c.is_script,
                                             "args": [[a.name, a.value if not isinstance(a.value, bytes) else len(a.value)] for a in c.args]}
                                            for c in p.commands])
    elif name in ("PipelineOutput", "PipelineInput"):
        v = d.data
        if hasattr(v, "adapted_properties"):
            v = {"types": v.types, "adapted": {k: str(x) for k, x in v.adapted_properties.items()}}
        s.update(value=v if isinstance(v, (str, int, dict, bool)) or v is None else str(v))
    elif name == "EncryptedSessionKey":
        s.update(key=d.session_key)
    elif name == "PublicKey":
        s.update(key=d.public_key)
    elif name == "ApplicationPrivateData":
        s.update(data=str(d.application_private_data))
    return s


def unpack():
    ser = Serializer()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        m = msgs.Message.unpack(base64.b64decode(line), ser)
        out(json.dumps(summary(m), default=str))


def pack():
    ser = Serializer()
    rpid = "11111111-2222-3333-4444-555555555555"
    pid = "66666666-7777-8888-9999-aaaaaaaaaaaa"

    def emit(data, p=None):
        out(base64.b64encode(msgs.Message(2, rpid, p, data, ser).pack()).decode())

    emit(msgs.SessionCapability(protocol_version="2.3", ps_version="2.0", serialization_version="1.1.0.1"))
    emit(msgs.InitRunspacePool(min_runspaces=1, max_runspaces=2,
                               thread_options=co.PSThreadOptions(value=co.PSThreadOptions.DEFAULT),
                               apartment_state=co.ApartmentState(value=co.ApartmentState.UNKNOWN),
                               host_info=co.HostInfo(), application_arguments={}))
    c1 = co.Command(cmd="Get-CASMailbox", protocol_version="2.3", is_script=False, use_local_scope=None)
    c1.args.append(co.CommandParameter(name="ResultSize", value="Unlimited"))
    c2 = co.Command(cmd="Set-CASMailbox", protocol_version="2.3", is_script=False, use_local_scope=None)
    c2.args.append(co.CommandParameter(name="OWAEnabled", value=False))
    c2.args.append(co.CommandParameter(name=None, value="positional"))
    c2.args.append(co.CommandParameter(name="Confirm", value=False))
    pl = co.Pipeline(is_nested=False, cmds=[c1, c2], history=None, redirect_err_to_out=False)
    emit(msgs.CreatePipeline(no_input=False, apartment_state=co.ApartmentState(value=co.ApartmentState.UNKNOWN),
                             remote_stream_options=co.RemoteStreamOptions(value=0),
                             add_to_history=False, host_info=co.HostInfo(), pipeline=pl, is_nested=False), pid)
    emit(msgs.PipelineInput(data="alice@lab.test"), pid)
    emit(msgs.EndOfPipelineInput(), pid)


{"keyexchange": keyexchange, "unpack": unpack, "pack": pack}[sys.argv[1]]()
