#!/usr/bin/python3
"""SLDC on the wire (a script, not a test): bytes of the same corpus events as Windows would
send them in Events batches, with and without SLDC, and what decompressing costs the collector
(the project's C++ decoder, timed through ctypes; a median of several passes).

    /usr/bin/python3 tests/bench/bench_sldc.py [--events 10000] [--passes 5]
"""
import argparse
import ctypes
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "simulator"))
import wef_forwarder as wef  # noqa: E402


def native_library():
    path = os.environ.get("WEC_SLDC_LIBRARY", str(REPO / "build" / "tests" / "libwec_sldc_native.so"))
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found: build first (bash tools/build.sh)")
    lib = ctypes.CDLL(path)
    for name in ("wec_sldc_compress", "wec_sldc_decompress"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_size_t
        fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    return lib


def batches(count, budget=512000):
    """Events envelopes of at most `budget` bytes of UTF-16, as a forwarder cuts them."""
    lines = (REPO / "tests" / "data" / "events-permissive.xml").read_text(encoding="utf-8").splitlines()
    bodies, current = [], []
    url = "https://wec.corp.example:5986/wsman/subscriptions/00000000-0000-0000-0000-000000000000"

    def close():
        bodies.append((len(current), wef.encode_body(wef.build_events(url, "win01.corp.example", current,
                                                                      wef.format_bookmark("Security", 1)))))

    size = 0
    for n in range(count):
        event = lines[n % len(lines)]
        if current and size + 2 * len(event) + 200 > budget - 4000:
            close()
            current, size = [], 0
        current.append(event)
        size += 2 * len(event) + 200
    if current:
        close()
    return bodies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    lib = native_library()
    bodies = batches(args.events)
    plain_bytes = sum(len(b) for _, b in bodies)
    compressed = []
    for _, body in bodies:
        out = ctypes.create_string_buffer(len(body) + len(body) // 8 + 64)
        size = lib.wec_sldc_compress(body, len(body), out, len(out))
        compressed.append((len(body), out.raw[:size]))
    packed_bytes = sum(len(c) for _, c in compressed)
    print(f"{args.events} corpus events in {len(bodies)} Events bodies: {plain_bytes:,} bytes UTF-16, "
          f"{packed_bytes:,} bytes SLDC ({packed_bytes / plain_bytes:.1%}, {plain_bytes / packed_bytes:.2f}x smaller)")

    timings = []
    for _ in range(args.passes):
        started = time.perf_counter()
        for plain_size, data in compressed:
            out = ctypes.create_string_buffer(plain_size + 64)
            if lib.wec_sldc_decompress(data, len(data), out, len(out)) != plain_size:
                raise SystemExit("decompression failed")
        timings.append(time.perf_counter() - started)
    seconds = statistics.median(timings)
    print(f"decompression (median of {args.passes}): {seconds * 1000:.1f} ms for {args.events} events = "
          f"{args.events / seconds:,.0f} events/s, {plain_bytes / seconds / 1e6:,.0f} MB/s of output, "
          f"{seconds / args.events * 1e6:.2f} µs per event")


if __name__ == "__main__":
    main()
