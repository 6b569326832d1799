"""Round trips per second against one swtpm: raw plain framing, raw TPM_SEND_COMMAND framing, transmit().

The raw loops are the least Python can do per command (one sendall, one
recv); ``transmit`` is the target's real path.  Benchmarks report checked
operations per second next to these rates measured in the same run.

    python -m harness.swtpm.roundtrip [--count N] [--transport unix|tcp]
"""

from __future__ import annotations

import argparse
import json
import struct
import time

from harness.swtpm.data import TPM_SEND_COMMAND
from harness.targets.swtpm import SwtpmTarget
from harness.wire import encode_command
from models.ops import PcrRead, Startup
from models.tcg import TPM_ALG, TPM_SU

PCR_READ = encode_command(PcrRead(((TPM_ALG.TPM_ALG_SHA1, (16,)), (TPM_ALG.TPM_ALG_SHA256, (16,)))))


def _rate(loop, count: int) -> float:
    loop(count // 10)  # warm up
    start = time.perf_counter()
    loop(count)
    return count / (time.perf_counter() - start)


def measure(count: int = 5000, transport: str = "unix", binary: str | None = None) -> dict:
    """Round trips per second of PCR_Read(sha1:16, sha256:16) at locality 0, three ways."""
    with SwtpmTarget(binary=binary, transport=transport) as target:
        target.transmit(encode_command(Startup(TPM_SU.TPM_SU_CLEAR)))
        sock = target._running().data._sock
        framed = struct.pack(">IBI", TPM_SEND_COMMAND, 0, len(PCR_READ)) + PCR_READ

        def plain(n: int) -> None:
            for _ in range(n):
                sock.sendall(PCR_READ)
                sock.recv(4096)

        def prefixed(n: int) -> None:
            for _ in range(n):
                sock.sendall(framed)
                sock.recv(4096)

        def transmit(n: int) -> None:
            send = target.transmit
            for _ in range(n):
                send(PCR_READ, 0)

        return {"transport": transport, "count": count,
                "raw_plain_per_s": round(_rate(plain, count)),
                "raw_prefixed_per_s": round(_rate(prefixed, count)),
                "transmit_per_s": round(_rate(transmit, count))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--transport", choices=("unix", "tcp"), default="unix")
    parser.add_argument("--swtpm-binary")
    args = parser.parse_args()
    print(json.dumps(measure(args.count, args.transport, args.swtpm_binary)))


if __name__ == "__main__":
    main()
