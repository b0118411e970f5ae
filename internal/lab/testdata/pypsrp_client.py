# pypsrp against the lab's /PowerShell/ endpoint (driven by pypsrp_test.go).
# Reads a JSON job on stdin, prints a JSON result on stdout. Secrets come
# from files named in the job, never from the command line.
import json
import socket
import sys
import traceback

from pypsrp.complex_objects import ObjectMeta
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

job = json.load(sys.stdin)

# The lab's certificates name the organisation's hosts; they all live on
# 127.0.0.1, so resolve them there (the test has no DNS for them).
_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if host == job["host"]:
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def connect(transport, user):
    account = job["users"][user]
    password = read(account["password_file"])
    if transport == "https-basic":
        return WSMan(job["host"], port=job["https_port"], path="PowerShell/", ssl=True, auth="basic",
                     username=account["user"], password=password, cert_validation=job["ca_file"],
                     operation_timeout=20, read_timeout=30)
    if transport == "http-ntlm":
        # encryption="auto": NTLM message encryption over plain http.
        return WSMan(job["host"], port=job["http_port"], path="PowerShell/", ssl=False, auth="ntlm",
                     username=account["user"], password=password, encryption="auto",
                     operation_timeout=20, read_timeout=30)
    if transport == "http-basic":
        # Refused by the lab, as Exchange and WinRM refuse Basic in clear.
        return WSMan(job["host"], port=job["http_port"], path="PowerShell/", ssl=False, auth="basic",
                     username=account["user"], password=password, encryption="never",
                     operation_timeout=20, read_timeout=30)
    raise ValueError("unknown transport " + transport)


def pool(wsman):
    return RunspacePool(wsman, configuration_name="Microsoft.Exchange")


def errors(ps):
    out = []
    for e in ps.streams.error:
        out.append({"fq": getattr(e, "fq_error", None), "message": str(e),
                    "reason": getattr(e, "reason", None)})
    return out


def props(obj):
    d = {}
    for source in (getattr(obj, "adapted_properties", {}), getattr(obj, "extended_properties", {})):
        for k, v in source.items():
            d[k] = str(v)
    return d


def scenario(name, transport, user):
    with pool(connect(transport, user)) as rp:
        if name == "get_cas":
            ps = PowerShell(rp)
            ps.add_cmdlet("Get-CASMailbox").add_parameter("ResultSize", 10)
            ps.add_cmdlet("Select-Object").add_parameter("Property", ["Name", "Guid", "MAPIBlockOutlookRpcHttp"])
            out = ps.invoke()
            return {"objects": [props(o) for o in out], "had_errors": ps.had_errors, "errors": errors(ps),
                    "state": ps.state}
        if name == "set_cas":
            ps = PowerShell(rp)
            ps.add_cmdlet("Set-CASMailbox").add_parameter("MAPIBlockOutlookRpcHttp", True)
            out = ps.invoke(input=job["identities"])
            return {"count": len(out), "had_errors": ps.had_errors, "errors": errors(ps), "state": ps.state}
        if name == "script":
            ps = PowerShell(rp)
            ps.add_script("foreach ($m in 1..2) { $m }")
            out = ps.invoke()
            return {"count": len(out), "had_errors": ps.had_errors, "errors": errors(ps), "state": ps.state}
        if name == "cmdlet":
            ps = PowerShell(rp)
            ps.add_cmdlet(job["cmdlet"])
            out = ps.invoke()
            return {"count": len(out), "had_errors": ps.had_errors, "errors": errors(ps), "state": ps.state}
        if name == "import_cert":
            rp.exchange_keys()
            with open(job["pfx_file"], "rb") as f:
                data = f.read()
            ps = PowerShell(rp)
            ps.add_cmdlet("Import-ExchangeCertificate")
            ps.add_parameter("FileData", data)
            ps.add_parameter("Password", rp.serialize(read(job["pfx_password_file"]), ObjectMeta("SS")))
            ps.add_parameter("Server", job["server"])
            out = ps.invoke()
            return {"objects": [{"types": getattr(o, "types", []), "props": props(o), "string": str(o)} for o in out],
                    "had_errors": ps.had_errors, "errors": errors(ps), "state": ps.state}
    raise ValueError("unknown scenario " + name)


def sessions(transport, user, n):
    # Open n sessions of one user and keep them; report how each went.
    opened, refusals = [], []
    try:
        for _ in range(n):
            rp = pool(connect(transport, user))
            try:
                rp.open()
                opened.append(rp)
            except Exception as e:  # the refusal is what the test reads
                refusals.append(str(e))
    finally:
        for rp in opened:
            rp.close()
    return {"opened": len(opened), "refusals": refusals}


try:
    if job["scenario"] == "sessions":
        result = sessions(job["transport"], job["user"], job["count"])
    else:
        result = scenario(job["scenario"], job["transport"], job["user"])
    print(json.dumps({"result": result}))
except Exception as e:
    print(json.dumps({"error": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()}))
