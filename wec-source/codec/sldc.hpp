// SLDC (ECMA-321 / ISO/IEC 22091 Streaming Lossless Data Compression): the only compression
// Windows Event Forwarding uses (subscription option Compression=SLDC, header
// Content-Encoding: SLDC). Written from the standard's description and the protocol notes in
// notes on Windows' framing; no third-party decoder was ported.
//
// Stream format, bits MSB-first:
//   control symbol   nine 1-bits + 4-bit code (13 bits): FLUSH 0, SCHEME1 1, SCHEME2 2,
//                    FILE_MARK 3, END_OF_RECORD 4, RESET1 5, RESET2 6, END_MARKER 15
//   scheme 1         literal `0` + 8 bits; copy `1` + match-count field + 10-bit ABSOLUTE
//                    position in the 1024-byte history buffer (filled circularly from 0 after a
//                    reset). Match count: 0x → 2-3, 10xx → 4-7, 110xxx → 8-15, 1110xxxx → 16-31,
//                    1111 + 8 bits → 32-271 (8-bit values F0-FF are control symbols instead)
//   scheme 2         the bytes themselves; a 0xFF data byte is followed by one 0 bit
// Both schemes feed the history buffer. Windows frames a body as one record:
//   RESET1 ... END_OF_RECORD, zero bits up to a 16-bit boundary, uint32 LE uncompressed length.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wec::codec {

enum class SldcResult
{
  Ok,       // output holds the decoded bytes
  NotSldc,  // the first symbol is not a plausible stream start (RESET1/RESET2/SCHEME1/SCHEME2):
            // the body is most likely not compressed (Windows labels some plain UTF-16 bodies,
            // which start FF FE 3C 00, as SLDC); the caller should use the raw bytes
  Corrupt,  // starts like SLDC but is truncated or invalid
  TooLarge, // the decoded data would exceed max_output
};

// Decodes an SLDC stream into `output` (replaced; cleared on any result other than Ok).
//  * Decodes until END_MARKER, or until END_OF_RECORD when nothing but padding / Windows' trailer
//    follows. After END_OF_RECORD the zero padding and Windows' LE32 length trailer are skipped;
//    if the data then continues with another control symbol at a byte boundary, the next record
//    is decoded and appended. Any other trailing bytes after END_OF_RECORD are ignored.
//  * FLUSH skips its zero padding up to the next 16-bit boundary (Windows pads END_OF_RECORD
//    that way; the standard leaves the pad width to the format using SLDC). FILE_MARK is
//    ignored. RESET1/RESET2 empty the history and select scheme 1/2; SCHEME1/SCHEME2 switch
//    schemes and keep the history. History positions never written since the last reset read
//    as zero bytes (the zero-initialised buffer the deployed decoders use).
//  * Never lets output grow past max_output (TooLarge, checked while decoding) and never
//    allocates much more than the output needs, capped at max_output plus a few bytes.
//  * error receives a one-line reason with the bit offset for NotSldc / Corrupt / TooLarge.
SldcResult sldc_decompress(std::string_view input, std::string &output, std::size_t max_output, std::string &error);

} // namespace wec::codec
