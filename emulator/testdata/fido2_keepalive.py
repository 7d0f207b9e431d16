"""Keepalive and cancel with python-fido2 over UDP, against a key whose
user takes a while to touch it (set up by the Go test).

Usage: fido2_keepalive.py HOST:PORT
"""

import sys
import threading

from fido2.ctap import CtapError, STATUS
from fido2.ctap2 import Ctap2

from fido2_interop import open_device


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    dev = open_device((host, int(port)))
    ctap = Ctap2(dev)
    seen = []
    ctap.selection(on_keepalive=seen.append)
    assert STATUS.UPNEEDED in seen, seen
    print("PASS keepalive_upneeded", flush=True)

    ev = threading.Event()
    threading.Timer(0.2, ev.set).start()
    try:
        ctap.selection(event=ev)
    except CtapError as e:
        assert e.code == CtapError.ERR.KEEPALIVE_CANCEL, e
        print("PASS cancel", flush=True)
    else:
        raise AssertionError("selection was not cancelled")
    dev.close()


if __name__ == "__main__":
    main()
