"""Cross-check of a WebAuthn registration and assertion with python-fido2's
Fido2Server (Debian python3-fido2, 0.9): reads one JSON object on stdin,

  {"rp_id", "origin", "challenge", "client_data", "attestation_object",
   "assert_challenge", "assert_client_data", "authenticator_data", "signature"}

(binary values base64url), verifies the registration (with the attestation
statement's signature) and the assertion against the registered key, and
prints JSON: the credential id, AAGUID, attestation format and the
assertion's counter. Any refusal exits 1 with the reason on stderr."""

import base64
import json
import sys

from fido2 import cbor
from fido2.attestation import Attestation
from fido2.client import ClientData
from fido2.ctap2 import AttestationObject, AuthenticatorData
from fido2.server import Fido2Server
from fido2.webauthn import AttestationConveyancePreference, PublicKeyCredentialRpEntity


def b64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def enc(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def verify_attestation(att_obj, client_data_hash):
    # The statement's signature (packed: x5c or self), not the trust path.
    Attestation.for_type(att_obj.fmt)().verify(att_obj.att_statement, att_obj.auth_data, client_data_hash)


def main():
    req = json.load(sys.stdin)
    origin = req["origin"]
    server = Fido2Server(
        PublicKeyCredentialRpEntity(req["rp_id"], "tokenlab"),
        attestation=AttestationConveyancePreference.DIRECT,
        verify_origin=lambda o: o == origin,
        verify_attestation=verify_attestation,
    )
    state = {"challenge": req["challenge"], "user_verification": None}
    try:
        auth_data = server.register_complete(
            state, ClientData(b64(req["client_data"])), AttestationObject(b64(req["attestation_object"]))
        )
    except Exception as e:  # noqa: BLE001 - report any refusal
        print("registration refused: %s" % e, file=sys.stderr)
        sys.exit(1)
    cred = auth_data.credential_data
    out = {
        "credential_id": enc(cred.credential_id),
        "aaguid": cred.aaguid.hex(),
        "public_key": enc(cbor.encode(dict(cred.public_key))),
        "fmt": AttestationObject(b64(req["attestation_object"])).fmt,
    }
    if req.get("signature"):
        state = {"challenge": req["assert_challenge"], "user_verification": None}
        try:
            server.authenticate_complete(
                state,
                [cred],
                b64(req["credential_id"]),
                ClientData(b64(req["assert_client_data"])),
                AuthenticatorData(b64(req["authenticator_data"])),
                b64(req["signature"]),
            )
        except Exception as e:  # noqa: BLE001
            print("assertion refused: %s" % e, file=sys.stderr)
            sys.exit(1)
        out["counter"] = AuthenticatorData(b64(req["authenticator_data"])).counter
    json.dump(out, sys.stdout)


main()
