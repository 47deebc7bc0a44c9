"""Runs test/e2e/Inputs/kernels/mma_sp.mlir (one warp's moe_gpu.mma_sp) under the CUDA
emulator on operands packed here from the PTX ISA's text for sparse m16n8k32 with 16-bit
types, and compares D with numpy's dense A B + C. With --swap-metadata the first
lane's first nibble is reversed, which the emulator must refuse."""
import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

PAIRS = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


def bf16_bits(x):
    """Round-to-nearest-even f32 -> bf16 bits (the values here are exact)."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint32)


def operands(rng):
    pair = rng.integers(0, 6, size=(16, 8))
    a = np.zeros((16, 32), np.float32)
    values = rng.integers(-4, 5, size=(16, 8, 2)).astype(np.float32) / 2
    for r in range(16):
        for chunk in range(8):
            for i in range(2):
                a[r, 4 * chunk + PAIRS[pair[r, chunk]][i]] = values[r, chunk, i]
    b = rng.integers(-3, 4, size=(32, 8)).astype(np.float32)
    c = rng.integers(-8, 9, size=(16, 8)).astype(np.float32)
    # Lane (g = l / 4, t = l % 4): a_i at row g (+8 for i in {2, 3, 6, 7}),
    # compressed column 2t + (i & 1) (+8 for i >= 4); b_i at row 2t + (i & 1)
    # + 8 (i / 2), column g; c_i at row g (+8 for i >= 2), column 2t + (i & 1);
    # metadata from lanes t / 2 = 0: nibble q at row g (+8 for q >= 4), chunk
    # 4 (t & 1) + q % 4, positions low first.
    ra = np.zeros((32, 4), np.uint32)
    rb = np.zeros((32, 4), np.uint32)
    rc = np.zeros((32, 4), np.float32)
    re = np.zeros(32, np.uint32)
    for lane in range(32):
        g, t = lane // 4, lane % 4
        for i in range(8):
            row = g + (8 if (i // 2) % 2 else 0)
            col = 2 * t + (i & 1) + (8 if i >= 4 else 0)
            chunk = col // 2
            value = a[row, 4 * chunk + PAIRS[pair[row, chunk]][col % 2]]
            ra[lane, i // 2] |= bf16_bits(value) << (16 * (i & 1))
            rb[lane, i // 2] |= bf16_bits(b[2 * t + (i & 1) + 8 * (i // 2), g]) << (16 * (i & 1))
        for i in range(4):
            rc[lane, i] = c[g + (8 if i >= 2 else 0), 2 * t + (i & 1)]
        if t // 2 == 0:
            for q in range(8):
                row, chunk = g + (8 if q >= 4 else 0), 4 * (t & 1) + q % 4
                lo, hi = PAIRS[pair[row, chunk]]
                re[lane] |= np.uint32((lo | hi << 2) << (4 * q))
    want = np.zeros((32, 4), np.float32)
    d = a @ b + c
    for lane in range(32):
        for i in range(4):
            want[lane, i] = d[lane // 4 + (8 if i >= 2 else 0), 2 * (lane % 4) + (i & 1)]
    return ra, rb, rc, re, want


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", type=pathlib.Path, required=True)
    parser.add_argument("--swap-metadata", action="store_true")
    args = parser.parse_args()
    kernel = pathlib.Path(__file__).parent / "Inputs" / "kernels" / "mma_sp.mlir"
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        ra, rb, rc, re, want = operands(np.random.default_rng(7))
        if args.swap_metadata:
            nibble = re[0] & 0xF
            re[0] = (re[0] & ~np.uint32(0xF)) | ((nibble >> 2) | ((nibble & 3) << 2))
        inputs = []
        for name, value in (("a", ra.view(np.int32)), ("b", rb.view(np.int32)),
                            ("c", rc), ("e", re.view(np.int32))):
            np.save(work / f"{name}.npy", value)
            inputs.append(f"--input=@{work / name}.npy")
        library = work / "mma_sp.so"
        subprocess.run([str(args.bin / "moe-opt"), str(kernel), "--emit=lib",
                        "--target=cuda-emulator", "-o", str(library)], check=True)
        run = subprocess.run([str(args.bin / "moe-run"), str(library), *inputs,
                              f"--output=@{work / 'd.npy'}"], capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stderr.strip())
            return 1
        got = np.load(work / "d.npy")
        wrong = int((got != want).sum())
        print(f"mma_sp: {wrong} of {want.size} elements of D differ from numpy"
              f"{' ok' if wrong == 0 else ' MISMATCH'}")
        return 0 if wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
