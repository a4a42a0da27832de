#!/usr/bin/python3
"""SLDC (ECMA-321 Streaming Lossless Data Compression) for the WEF forwarder simulator.

Pure Python, stdlib only. Written from the standard's description and the protocol notes
(docs: wef-protocol.md section 3); it ports no third-party code.

Format (bits MSB-first):
  control symbol  nine 1-bits + 4-bit code: FLUSH 0, SCHEME1 1, SCHEME2 2, FILE_MARK 3,
                  END_OF_RECORD 4, RESET1 5, RESET2 6, END_MARKER 15
  scheme 1        literal `0` + 8 bits; copy `1` + match-count field + 10-bit absolute position
                  in the 1024-byte history (filled circularly from 0 after a reset).
                  Match count: 0x 2-3, 10xx 4-7, 110xxx 8-15, 1110xxxx 16-31, 1111+8 bits 32-271
                  (8-bit values F0-FF are control symbols)
  scheme 2        plain bytes; 0xFF is followed by one 0 bit
Windows frames a body as RESET1 ... END_OF_RECORD, zero bits to a 16-bit boundary, then the
uint32 LE uncompressed length.

compress() is the same greedy encoder as wec-source/codec/sldc.cpp (sldc_compress) and
produces byte-identical output: hash chains of equal 3-byte prefixes inside the 1024-byte
window, at most 16 candidates per position, the longest match wins (the most recent on ties),
a 2-byte match from the last occurrence when no 3-byte one exists; scheme 2 when smaller.

Command line (used by the C++ unit tests):
  sldc.py compress [IN [OUT]]     stdin/stdout when omitted
  sldc.py decompress [IN [OUT]]
"""

import sys

__all__ = ["compress", "decompress", "SldcError", "NotSldcError", "SldcTooLargeError"]

FLUSH, SCHEME1, SCHEME2, FILE_MARK, END_OF_RECORD, RESET1, RESET2, END_MARKER = (
    0, 1, 2, 3, 4, 5, 6, 15)
_VALID_CODES = frozenset((0, 1, 2, 3, 4, 5, 6, 15))

HISTORY = 1024
MAX_MATCH = 271
CHAIN_DEPTH = 16


class SldcError(ValueError):
    """Corrupt or truncated SLDC data."""


class NotSldcError(SldcError):
    """The data does not start like an SLDC stream (e.g. a plain FF FE 3C 00 UTF-16 body)."""


class SldcTooLargeError(SldcError):
    """The decoded data would exceed max_output."""


def _scheme1_bits_for_copy(length):
    """(match-count field value, field width) for a copy of `length` bytes (2..271)."""
    if length < 4:
        return length - 2, 2
    if length < 8:
        return (0x2 << 2) | (length - 4), 4
    if length < 16:
        return (0x6 << 3) | (length - 8), 6
    if length < 32:
        return (0xE << 4) | (length - 16), 8
    return (0xF << 8) | (length - 32), 12


# Precomputed copy symbols without the position: (value << 10, total bits).
_COPY = [None] * (MAX_MATCH + 1)
for _len in range(2, MAX_MATCH + 1):
    _f, _w = _scheme1_bits_for_copy(_len)
    _bits = 1 + _w + 10
    _COPY[_len] = (((1 << (_w)) | _f) << 10, _bits)
del _len, _f, _w, _bits


def compress(data):
    """Greedy scheme-1 SLDC record in Windows framing (see module docstring)."""
    data = bytes(data)
    n = len(data)
    out = bytearray()
    acc = (0x1FF << 4) | RESET1
    nacc = 13
    scheme1_bits = 0

    head3 = {}
    head2 = {}
    prev3 = [-1] * n
    copy_table = _COPY
    from_bytes = int.from_bytes

    i = 0
    while i < n:
        max_len = n - i
        if max_len > MAX_MATCH:
            max_len = MAX_MATCH
        lowest = i - HISTORY
        if lowest < 0:
            lowest = 0
        best_len = 0
        best_at = -1
        if max_len >= 3:
            j = head3.get(data[i:i + 3], -1)
            if j >= lowest:
                cur = from_bytes(data[i:i + max_len], "big")
                shift = max_len * 8
                depth = CHAIN_DEPTH
                while j >= lowest and depth:
                    depth -= 1
                    if best_len and data[j + best_len] != data[i + best_len]:
                        j = prev3[j]
                        continue
                    x = cur ^ from_bytes(data[j:j + max_len], "big")
                    length = max_len if not x else (shift - x.bit_length()) >> 3
                    if length > best_len:
                        best_len = length
                        best_at = j
                        if length == max_len:
                            break
                    j = prev3[j]
        if best_len < 2 and max_len >= 2:
            j = head2.get(data[i:i + 2], -1)
            if j >= lowest:
                x = from_bytes(data[i:i + max_len], "big") ^ from_bytes(data[j:j + max_len], "big")
                best_len = max_len if not x else (max_len * 8 - x.bit_length()) >> 3
                best_at = j

        if best_len >= 2:
            value, bits = copy_table[best_len]
            acc = (acc << bits) | value | (best_at & 1023)
            nacc += bits
            scheme1_bits += bits
            end = i + best_len
        else:
            acc = (acc << 9) | data[i]
            nacc += 9
            scheme1_bits += 9
            end = i + 1
        if nacc >= 32:
            nacc -= 32
            out += (acc >> nacc).to_bytes(4, "big")
            acc &= (1 << nacc) - 1
        # Index every position the symbol covered.
        k = i
        last3 = n - 2
        while k < end:
            if k < last3:
                key = data[k:k + 3]
                prev3[k] = head3.get(key, -1)
                head3[key] = k
                head2[key[:2]] = k
            elif k + 1 < n:
                head2[data[k:k + 2]] = k
            k += 1
        i = end

    scheme2_bits = 8 * n + data.count(b"\xff")
    if scheme2_bits < scheme1_bits:
        out = bytearray()
        acc = (0x1FF << 4) | RESET2
        nacc = 13
        for byte in data:
            if byte == 0xFF:
                acc = (acc << 9) | 0x1FE
                nacc += 9
            else:
                acc = (acc << 8) | byte
                nacc += 8
            if nacc >= 32:
                nacc -= 32
                out += (acc >> nacc).to_bytes(4, "big")
                acc &= (1 << nacc) - 1

    # END_OF_RECORD, zero bits to a 16-bit boundary, LE32 length.
    acc = (acc << 13) | (0x1FF << 4) | END_OF_RECORD
    nacc += 13
    pad = (16 - nacc % 16) % 16
    acc <<= pad
    nacc += pad
    out += acc.to_bytes(nacc // 8, "big")
    out += (n & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(out)


def _control_at(data, at):
    if at + 2 > len(data):
        return None
    v = ((data[at] << 8) | data[at + 1]) >> 3
    if v >> 4 != 0x1FF or (v & 0xF) not in _VALID_CODES:
        return None
    return v & 0xF


def decompress(data, max_output=None):
    """Decodes an SLDC stream with the same rules as the C++ decoder (sldc_decompress).

    Raises NotSldcError when the first symbol is not RESET1/RESET2/SCHEME1/SCHEME2,
    SldcTooLargeError past max_output, SldcError for corrupt or truncated data.
    """
    data = bytes(data)
    size = len(data)
    first = _control_at(data, 0)
    if first not in (RESET1, RESET2, SCHEME1, SCHEME2):
        raise NotSldcError("does not start with an SLDC reset/scheme symbol")
    limit = max_output if max_output is not None else float("inf")

    out = bytearray()
    pos = 0          # next byte to load
    acc = 0          # pending bits, the oldest at the top
    nacc = 0
    scheme = 0       # 0 none, 1, 2
    reset_start = 0
    record_start = 0

    def fail(cls, what):
        raise cls("%s at bit %d" % (what, pos * 8 - nacc))

    while True:
        while nacc < 24 and pos < size:
            acc = (acc << 8) | data[pos]
            pos += 1
            nacc += 8
        if nacc == 0 and pos >= size:
            fail(SldcError, "data ends without END_OF_RECORD")
        top = (acc << (24 - nacc)) if nacc < 24 else (acc >> (nacc - 24))  # 24 bits, zero-filled
        code = None
        if scheme == 1:
            if not top & 0x800000:
                if nacc < 9:
                    fail(SldcError, "truncated literal")
                if len(out) + 1 > limit:
                    fail(SldcTooLargeError, "output exceeds the limit")
                out.append((top >> 15) & 0xFF)
                nacc -= 9
            else:
                f = (top >> 19) & 0xF  # first 4 bits of the match-count field
                if not f & 0x8:
                    length, width = 2 + ((f >> 2) & 1), 2
                elif not f & 0x4:
                    length, width = 4 + (f & 3), 4
                elif not f & 0x2:
                    length, width = 8 + ((top >> 17) & 7), 6
                elif not f & 0x1:
                    length, width = 16 + ((top >> 15) & 15), 8
                else:
                    v = (top >> 11) & 0xFF
                    if v >= 0xF0:
                        if nacc < 13:
                            fail(SldcError, "truncated control symbol")
                        code = v & 0xF
                        nacc -= 13
                    length, width = 32 + v, 12
                if code is None:
                    bits = 1 + width + 10
                    if nacc < bits:
                        fail(SldcError, "truncated copy pointer")
                    position = (top >> (24 - bits)) & 0x3FF
                    nacc -= bits
                    if len(out) + length > limit:
                        fail(SldcTooLargeError, "output exceeds the limit")
                    olen = len(out)
                    cur = (olen - reset_start) & 1023
                    base = olen - cur
                    if position < cur:
                        src = base + position
                    elif base >= reset_start + HISTORY:
                        src = base - HISTORY + position
                    else:  # first lap after a reset: never-written positions read as zeros
                        src = None
                    if src is not None and src + length <= olen:
                        out += out[src:src + length]
                    elif src is not None:
                        for t in range(length):
                            out.append(out[src + t])
                    else:
                        v = reset_start + position
                        for t in range(length):
                            out.append(out[v - HISTORY] if v >= reset_start + HISTORY else 0)
                            v += 1
        elif scheme == 2:
            byte = top >> 16
            if byte != 0xFF:
                if nacc < 8:
                    fail(SldcError, "truncated byte")
                nacc -= 8
                if len(out) + 1 > limit:
                    fail(SldcTooLargeError, "output exceeds the limit")
                out.append(byte)
            elif not top & 0x8000:
                if nacc < 9:
                    fail(SldcError, "truncated byte")
                nacc -= 9
                if len(out) + 1 > limit:
                    fail(SldcTooLargeError, "output exceeds the limit")
                out.append(0xFF)
            else:
                if nacc < 13:
                    fail(SldcError, "truncated control symbol")
                code = (top >> 11) & 0xF
                nacc -= 13
        else:
            if top >> 15 != 0x1FF or nacc < 13:
                fail(SldcError, "expected a control symbol")
            code = (top >> 11) & 0xF
            nacc -= 13
        acc &= (1 << nacc) - 1

        if code is None:
            continue
        if code == FLUSH:
            pad = (16 - (pos * 8 - nacc) % 16) % 16
            while nacc < pad and pos < size:
                acc = (acc << 8) | data[pos]
                pos += 1
                nacc += 8
            if nacc < pad:
                fail(SldcError, "truncated FLUSH padding")
            nacc -= pad
            acc &= (1 << nacc) - 1
        elif code == SCHEME1:
            scheme = 1
        elif code == SCHEME2:
            scheme = 2
        elif code == FILE_MARK:
            pass
        elif code in (RESET1, RESET2):
            scheme = 1 if code == RESET1 else 2
            reset_start = len(out)
        elif code == END_MARKER:
            return bytes(out)
        elif code == END_OF_RECORD:
            nxt = (pos * 8 - nacc + 7) // 8
            trailer = (nxt + 1) & ~1
            if trailer + 4 <= size and not any(data[nxt:trailer]):
                value = int.from_bytes(data[trailer:trailer + 4], "little")
                if value in ((len(out) - record_start) & 0xFFFFFFFF, len(out) & 0xFFFFFFFF):
                    nxt = trailer + 4
            while nxt < size and data[nxt] == 0:
                nxt += 1
            if nxt >= size or _control_at(data, nxt) is None:
                return bytes(out)
            pos, acc, nacc = nxt, 0, 0
            record_start = len(out)
        else:
            fail(SldcError, "reserved control symbol %d" % code)


def _main(argv):
    if len(argv) < 2 or argv[1] not in ("compress", "decompress"):
        sys.stderr.write("usage: sldc.py compress|decompress [IN [OUT]]\n")
        return 2
    src = open(argv[2], "rb") if len(argv) > 2 else sys.stdin.buffer
    with src:
        data = src.read()
    result = compress(data) if argv[1] == "compress" else decompress(data)
    if len(argv) > 3:
        with open(argv[3], "wb") as dst:
            dst.write(result)
    else:
        sys.stdout.buffer.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
