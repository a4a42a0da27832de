// SLDC encoder for tests and the forwarder simulator: the collector only decodes (Windows
// compresses). Greedy scheme-1 encoder: hash chains over the 1024-byte history (3-byte keys, at
// most 16 candidates per position, longest match wins, the most recent on ties; 2-byte matches
// from a direct table), copies of 2-271 bytes addressed by absolute history position. Emits one
// record framed like Windows: RESET1 ... END_OF_RECORD, zero padding to a 16-bit boundary, uint32
// LE input length. Falls back to scheme 2 (RESET2, pass-through) when that is smaller.
// tests/simulator/sldc.py implements the same algorithm and produces byte-identical output.
#pragma once

#include <string>
#include <string_view>

namespace wec::codec {

std::string sldc_compress(std::string_view input);

} // namespace wec::codec
