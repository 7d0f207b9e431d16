"""Drive a tokenlab simulated security key over CTAPHID-over-UDP with
Yubico's python-fido2, a client nobody in tokenlab wrote.

Usage: fido2_interop.py HOST:PORT ROOT_CA_DER_HEX

Prints "PASS <step>" for each step and "ALL OK" at the end; any failure
raises (non-zero exit). Run by emulator's TestPythonFido2Interop.
"""

import binascii
import os
import socket
import struct
import sys
import time

from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor
from fido2.ctap import CtapError
from fido2.ctap1 import Ctap1
from fido2.ctap2 import Ctap2, ClientPin, PinProtocolV1, PinProtocolV2
from fido2.ctap2.credman import CredentialManagement
from fido2.attestation import PackedAttestation
from fido2.client import Fido2Client
from fido2.server import Fido2Server, AttestationVerifier
from fido2.cose import CoseKey
from fido2.utils import sha256

MAGIC_REBOOT = binascii.unhexlify(
    "ac1052ca95e569de69e02ebff333485f13f9b2da34c5a8a340526697a9ab2e0b"
    "394d8d04973c134005be1a0140bff6045bb26eb77a73eaa47813f6b49a7250dc"
)


class UdpConnection(CtapHidConnection):
    """CtapHidConnection over the UDP simulation convention: one 64-byte
    report per datagram. Reports of other channels (the key answers every
    client it has heard from) are dropped, as a HID driver's per-handle
    filtering by the client library would."""

    def __init__(self, addr):
        self.addr = addr
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.connect(addr)
        self.sock.settimeout(10)
        self.device = None

    def write_packet(self, data):
        self.sock.send(bytes(data))

    def read_packet(self):
        while True:
            pkt = self.sock.recv(2048)
            cid = struct.unpack_from(">I", pkt)[0]
            if self.device is None or cid == self.device._channel_id:
                return pkt

    def close(self):
        self.sock.close()


def open_device(addr):
    conn = UdpConnection(addr)
    desc = HidDescriptor("udp:%s:%d" % addr, 0x1209, 0x7470, 64, 64)

    class Dev(CtapHidDevice):
        def __init__(self, d, c):
            self._channel_id = 0xFFFFFFFF
            c.device = self
            super().__init__(d, c)

    return Dev(desc, conn)


def reboot(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(MAGIC_REBOOT, addr)
    s.close()
    time.sleep(0.3)


def ok(step):
    print("PASS", step, flush=True)


def expect_error(code, f, *args, **kwargs):
    try:
        f(*args, **kwargs)
    except CtapError as e:
        assert e.code == code, "want %r, got %r" % (code, e.code)
        return
    raise AssertionError("no error, want %r" % code)


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    addr = (host, int(port))
    root_der = binascii.unhexlify(sys.argv[2])

    dev = open_device(addr)
    assert dev.ping(b"tokenlab") == b"tokenlab"
    ctap = Ctap2(dev)
    info = ctap.get_info()
    assert "FIDO_2_1" in info.versions and "FIDO_2_0" in info.versions and "U2F_V2" in info.versions, info.versions
    for o in ("rk", "up", "credMgmt"):
        assert info.options.get(o) is True, (o, info.options)
    assert info.options.get("clientPin") is False, info.options
    assert list(info.pin_uv_protocols) == [2, 1], info.pin_uv_protocols
    assert {"credProtect", "hmac-secret"} <= set(info.extensions), info.extensions
    assert len(info.aaguid) == 16
    ok("get_info")

    # makeCredential with packed attestation checked by python-fido2's
    # packed verifier and chained to the manufacturer CA.
    rp = {"id": "example.com", "name": "Example"}
    creds = {}
    for alg in (-7, -8):
        cdh = sha256(b"client data %d" % alg)
        user = {"id": b"user%d" % -alg, "name": "alice%d" % -alg, "displayName": "Alice"}
        att = ctap.make_credential(cdh, rp, user, [{"type": "public-key", "alg": alg}],
                                   options={"rk": True})
        assert att.fmt == "packed"
        result = PackedAttestation().verify(att.att_statement, att.auth_data, cdh)
        from fido2.attestation import verify_x509_chain
        verify_x509_chain(result.trust_path + [root_der])
        cd = att.auth_data.credential_data
        assert cd.aaguid == info.aaguid
        assert cd.public_key[3] == alg
        creds[alg] = cd
    ok("make_credential")

    # getAssertion: signatures verified with the credential public keys.
    for alg, cd in creds.items():
        cdh = sha256(b"assert %d" % alg)
        a = ctap.get_assertion("example.com", cdh, [{"type": "public-key", "id": cd.credential_id}])
        a.verify(cdh, cd.public_key)
        assert a.auth_data.is_user_present()
    # Discoverable: both, newest first, through getNextAssertion.
    cdh = sha256(b"discover")
    all_ = ctap.get_assertions("example.com", cdh)
    assert len(all_) == 2, len(all_)
    assert all_[0].credential["id"] == creds[-8].credential_id
    for a in all_:
        a.verify(cdh, creds[-8 if a.credential["id"] == creds[-8].credential_id else -7].public_key)
    c1 = ctap.get_assertion("example.com", cdh, [{"type": "public-key", "id": creds[-7].credential_id}]).auth_data.counter
    c2 = ctap.get_assertion("example.com", cdh, [{"type": "public-key", "id": creds[-7].credential_id}]).auth_data.counter
    assert c2 > c1, (c1, c2)
    expect_error(CtapError.ERR.NO_CREDENTIALS, ctap.get_assertion, "other.example", cdh)
    ok("get_assertion")

    # Excluded credentials.
    expect_error(CtapError.ERR.CREDENTIAL_EXCLUDED, ctap.make_credential, sha256(b"x"), rp,
                 {"id": b"u9", "name": "u9"}, [{"type": "public-key", "alg": -7}],
                 exclude_list=[{"type": "public-key", "id": creds[-7].credential_id}])
    ok("exclude_list")

    # CTAP1 / U2F.
    u2f = Ctap1(dev)
    assert u2f.get_version() == "U2F_V2"
    app, chal = sha256(b"https://u2f.example"), sha256(b"challenge")
    reg = u2f.register(chal, app)
    reg.verify(app, chal)
    sig = u2f.authenticate(chal, app, reg.key_handle)
    sig.verify(app, chal, reg.public_key)
    ok("u2f")

    # Fido2Server (the relying party) verifies a registration and an
    # authentication made through Fido2Client.
    class Verifier(AttestationVerifier):
        def ca_lookup(self, result, auth_data):
            return [root_der]

    server = Fido2Server({"id": "example.com", "name": "Example"}, attestation="direct",
                         verify_attestation=Verifier())
    client = Fido2Client(dev, "https://example.com")
    reg_opts, state = server.register_begin({"id": b"bob", "name": "bob", "displayName": "Bob"},
                                            user_verification="discouraged")
    res = client.make_credential(reg_opts["publicKey"])
    auth_data = server.register_complete(state, res.client_data, res.attestation_object)
    registered = [auth_data.credential_data]
    ok("server_register")
    req, state = server.authenticate_begin(registered, user_verification="discouraged")
    sel = client.get_assertion(req["publicKey"])
    r = sel.get_response(0)
    server.authenticate_complete(state, registered, r.credential_id, r.client_data,
                                 r.authenticator_data, r.signature)
    ok("server_authenticate")

    # hmac-secret through python-fido2's client extension.
    res = client.make_credential({
        "rp": {"id": "example.com", "name": "Example"},
        "user": {"id": b"hs", "name": "hs"},
        "challenge": os.urandom(32),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "extensions": {"hmacCreateSecret": True},
    })
    assert res.extension_results.get("hmacCreateSecret") is True, res.extension_results
    hs_cred = res.attestation_object.auth_data.credential_data

    def hmac_get(salt):
        sel = client.get_assertion({
            "rpId": "example.com",
            "challenge": os.urandom(32),
            "allowCredentials": [{"type": "public-key", "id": hs_cred.credential_id}],
            "extensions": {"hmacGetSecret": {"salt1": salt}},
        })
        return sel.get_response(0).extension_results["hmacGetSecret"]["output1"]

    salt = os.urandom(32)
    o1, o2, o3 = hmac_get(salt), hmac_get(salt), hmac_get(os.urandom(32))
    assert len(o1) == 32 and o1 == o2 and o1 != o3
    ok("hmac_secret")

    # Client PIN: set, change, token (protocol 2 and 1), retries.
    cp = ClientPin(ctap)
    assert isinstance(cp.protocol, PinProtocolV2)
    assert cp.get_pin_retries()[0] == 8
    cp.set_pin("1234")
    ctap = Ctap2(dev)
    assert ctap.info.options["clientPin"] is True
    cp = ClientPin(ctap)
    cp.change_pin("1234", "abcd5678")
    perms = ClientPin.PERMISSION.MAKE_CREDENTIAL | ClientPin.PERMISSION.GET_ASSERTION
    expect_error(CtapError.ERR.PIN_INVALID, cp.get_pin_token, "1234", perms)
    assert cp.get_pin_retries()[0] == 7
    token = cp.get_pin_token("abcd5678", perms, "pin.example")
    assert cp.get_pin_retries()[0] == 8
    cdh = sha256(b"with pin")
    att = ctap.make_credential(cdh, {"id": "pin.example"}, {"id": b"carol", "name": "carol"},
                               [{"type": "public-key", "alg": -7}], options={"rk": True},
                               pin_uv_param=cp.protocol.authenticate(token, cdh),
                               pin_uv_protocol=cp.protocol.VERSION)
    assert att.auth_data.is_user_verified()
    a = ctap.get_assertion("pin.example", cdh, pin_uv_param=cp.protocol.authenticate(token, cdh),
                           pin_uv_protocol=cp.protocol.VERSION)
    a.verify(cdh, att.auth_data.credential_data.public_key)
    assert a.auth_data.is_user_verified() and a.user["name"] == "carol"
    expect_error(CtapError.ERR.PIN_REQUIRED, ctap.make_credential, cdh, {"id": "pin.example"},
                 {"id": b"dave", "name": "dave"}, [{"type": "public-key", "alg": -7}], options={"rk": True})
    cp1 = ClientPin(ctap, PinProtocolV1())
    t1 = cp1.get_pin_token("abcd5678", ClientPin.PERMISSION.GET_ASSERTION)
    a = ctap.get_assertion("pin.example", cdh, pin_uv_param=cp1.protocol.authenticate(t1, cdh),
                           pin_uv_protocol=1)
    assert a.auth_data.is_user_verified()
    ok("client_pin")

    # Credential management with a cm token.
    token = cp.get_pin_token("abcd5678", ClientPin.PERMISSION.CREDENTIAL_MGMT)
    cm = CredentialManagement(ctap, cp.protocol, token)
    meta = cm.get_metadata()
    assert meta[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 3, meta
    rps = cm.enumerate_rps()
    ids = sorted(r[CredentialManagement.RESULT.RP]["id"] for r in rps)
    assert ids == ["example.com", "pin.example"], ids
    found = cm.enumerate_creds(sha256(b"example.com"))
    assert len(found) == 2
    cm.delete_cred(found[0][CredentialManagement.RESULT.CREDENTIAL_ID])
    assert cm.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 2
    ok("credential_management")

    # Reset: allowed only just after power-up; the magic reboot datagram
    # power-cycles the key.
    time.sleep(0.1)
    dev.close()
    reboot(addr)
    dev = open_device(addr)
    ctap = Ctap2(dev)
    ctap.reset()
    ctap = Ctap2(dev)
    assert ctap.info.options["clientPin"] is False
    expect_error(CtapError.ERR.NO_CREDENTIALS, ctap.get_assertion, "example.com", sha256(b"after reset"))
    ok("reset")
    dev.close()
    print("ALL OK", flush=True)


if __name__ == "__main__":
    main()
