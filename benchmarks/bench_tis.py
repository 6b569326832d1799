"""TPM commands/s through QEMU's tpm-tis (qtest) next to the same swtpm spoken to directly.

    python -m benchmarks.bench_tis [--count N]

Same swtpm binary, same command mix (PCR_Read, GetRandom(32), PCR_Extend of
PCR 16), in the same run: the TIS path pays the FIFO protocol's qtest round
trips (burstCount-sized pipelined bursts), the direct path one socket
round trip per command.  Every response must be TPM_RC_SUCCESS.
"""

from __future__ import annotations

import argparse
import time

from harness.targets.factory import parse_target
from harness.wire import encode_command
from models.ops import GetRandom, PcrExtend, PcrRead, Startup
from models.tcg import TPM_ALG

_SHA256 = int(TPM_ALG.TPM_ALG_SHA256)
MIX = [encode_command(op) for op in (PcrRead(selection=((_SHA256, (0,)),)), GetRandom(32),
                                     PcrExtend(16, ((_SHA256, bytes(32)),)))]


def rate(spec: str, count: int) -> float:
    """Commands per second of the mix against a fresh target of ``spec``."""
    target = parse_target(spec).create()
    try:
        target.transmit(encode_command(Startup(0)))
        start = time.perf_counter()
        for n in range(count):
            response = target.transmit(MIX[n % len(MIX)], 0)
            if response[6:10] != bytes(4):
                raise SystemExit(f"{spec}: command {n} failed: {response[:10].hex()}")
        return count / (time.perf_counter() - start)
    finally:
        target.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    tis = rate("tis+qtest", args.count)
    direct = rate("swtpm", args.count)
    print(f"tis+qtest: {tis:8.0f} commands/s")
    print(f"swtpm    : {direct:8.0f} commands/s")
    print(f"direct / TIS: {direct / tis:.1f}x")


if __name__ == "__main__":
    main()
