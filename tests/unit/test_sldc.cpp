// Unit tests for wec::codec SLDC (ECMA-321): decoder, greedy encoder, Windows framing,
// robustness against truncated / corrupt / random input, and agreement with the Python
// encoder of the forwarder simulator (tests/simulator/sldc.py).
//
// Python cross-check, two ways:
//  * tests/data/sldc-python-vector.bin is sldc.py's compression of sldc-python-vector.txt
//    (three corpus events in an Events envelope, UTF-8) encoded as UTF-16LE with BOM; it is
//    committed so the check runs without Python. Regenerate with
//      python3 tests/simulator/sldc.py compress <utf16-file> tests/data/sldc-python-vector.bin
//  * python_live_cross_check runs /usr/bin/python3 tests/simulator/sldc.py on several corpus
//    bodies (bounded by `timeout`) and requires byte-identical output to sldc_compress and
//    that each side decodes the other's output. Skipped when /usr/bin/python3 is missing.
#include <criterion/criterion.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "codec/sldc.hpp"
#include "sldc-encoder.hpp"
#include "codec/utf16.hpp"

using wec::codec::encode_utf16le_with_bom;
using wec::codec::sldc_compress;
using wec::codec::sldc_decompress;
using wec::codec::SldcResult;

namespace {

const char *
result_name(SldcResult r)
{
  switch (r)
    {
    case SldcResult::Ok:
      return "Ok";
    case SldcResult::NotSldc:
      return "NotSldc";
    case SldcResult::Corrupt:
      return "Corrupt";
    case SldcResult::TooLarge:
      return "TooLarge";
    }
  return "?";
}

std::string
unhex(const std::string &hex)
{
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::string
read_file(const std::string &path)
{
  std::ifstream in(path, std::ios::binary);
  cr_assert(in.good(), "cannot open %s", path.c_str());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void
write_file(const std::string &path, const std::string &data)
{
  std::ofstream out(path, std::ios::binary);
  out << data;
  cr_assert(out.good(), "cannot write %s", path.c_str());
}

std::vector<std::string>
corpus_lines()
{
  std::vector<std::string> lines;
  std::istringstream in(read_file(WEC_TEST_DATA_DIR "/events-permissive.xml"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty())
      lines.push_back(line);
  return lines;
}

const char kEventsHead[] =
  "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
  "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
  "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header><a:Action "
  "s:mustUnderstand=\"true\">http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</a:Action></s:Header>"
  "<s:Body><w:Events>";
const char kEventsTail[] = "</w:Events></s:Body></s:Envelope>";

std::string
wrap_event(const std::string &event)
{
  return "<w:Event Action=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Event\"><![CDATA[" + event +
         "]]></w:Event>";
}

// An Events body of corpus events, UTF-16LE with BOM, about `bytes` long, starting at `first`.
std::string
events_body(const std::vector<std::string> &lines, std::size_t first, std::size_t bytes)
{
  std::string text = kEventsHead;
  for (std::size_t i = first; (text.size() + 40) * 2 < bytes; ++i)
    text += wrap_event(lines[i % lines.size()]);
  text += kEventsTail;
  return encode_utf16le_with_bom(text);
}

// Test-side MSB-first bit writer for hand-made streams.
struct Bits
{
  std::string bytes;
  unsigned used = 0; // bits used in the last byte
  void put(uint32_t value, unsigned width)
  {
    for (unsigned i = width; i-- > 0;)
      {
        if (used == 0)
          bytes += '\0';
        if ((value >> i) & 1)
          bytes.back() = static_cast<char>(static_cast<uint8_t>(bytes.back()) | (0x80 >> used));
        used = (used + 1) % 8;
      }
  }
  void control(unsigned code)
  {
    put((0x1FFu << 4) | code, 13);
  }
  void literal(uint8_t byte) // scheme 1
  {
    put(byte, 9);
  }
  void copy(unsigned len, unsigned position) // scheme 1, len 2..271
  {
    put(1, 1);
    if (len < 4)
      put(len - 2, 2);
    else if (len < 8)
      put((0x2u << 2) | (len - 4), 4);
    else if (len < 16)
      put((0x6u << 3) | (len - 8), 6);
    else if (len < 32)
      put((0xEu << 4) | (len - 16), 8);
    else
      put((0xFu << 8) | (len - 32), 12);
    put(position, 10);
  }
  void raw(uint8_t byte) // scheme 2
  {
    if (byte == 0xFF)
      put(0x1FE, 9);
    else
      put(byte, 8);
  }
  std::size_t bit_count() const
  {
    return bytes.size() * 8 - (used ? 8 - used : 0);
  }
  void pad_to(unsigned boundary_bits)
  {
    while (bit_count() % boundary_bits)
      put(0, 1);
  }
};

enum Code : unsigned
{
  FLUSH = 0,
  SCHEME1 = 1,
  SCHEME2 = 2,
  FILE_MARK = 3,
  EOR = 4,
  RESET1 = 5,
  RESET2 = 6,
  END_MARKER = 15
};

SldcResult
decode(const std::string &in, std::string &out, std::size_t max = 64u << 20)
{
  std::string error;
  SldcResult r = sldc_decompress(in, out, max, error);
  if (r != SldcResult::Ok)
    cr_assert(!error.empty(), "no error text for %s", result_name(r));
  return r;
}

void
expect_round_trip(const std::string &plain, const char *what)
{
  const std::string packed = sldc_compress(plain);
  std::string out;
  SldcResult r = decode(packed, out);
  cr_assert(r == SldcResult::Ok, "%s: %s", what, result_name(r));
  cr_assert(out == plain, "%s: round trip differs (%zu vs %zu bytes)", what, out.size(), plain.size());
}

// Openwec's Windows heartbeat test vector, data from cea-sec/openwec server/src/sldc.rs, test
// decompress_heartbeat (commit 63e60cec3ad91086c0f8eab186e914221619ec1d): a real Windows 10
// client's SLDC-compressed Heartbeat body, 1006 bytes.
const char kWindowsHeartbeatHex[] =
  "ffabfdfc3c001cc003a00114006e001d80065001b0006f001c281a20001e0006da079bb2019cc003d000880068001d0"
  "0074a098e8002f000bc0077001de8722ea1e8ce87e6f001c80067a1b8c80030000c28862fa298d68ae73a239868622da"
  "0af602845dc1730f8c2739800c748f32d1fcc349d176c7de03072118ef4b3e0270d322b8e29a661001900064a5f99698"
  "e73001a690667f08f265f9891665c8da6ea84f98ea3bfc0d01325634e80033754c4c5962f49d618e3756bc63d5afc244"
  "73acaf8162387c0d7336d56cc75a137e5293357b45d60b37edadf863543e00680224589f06e196c1b8948c36572a5874"
  "7de17a4e5553c0818570c99874c39a2c5d91c4c76953659ec6a001cd53702e748b8e6003ad8970fc1cad2e70cab26fcb"
  "ba2f001080036b6d912dbe42cd522d0011adca30000dedd634a03916dce2db568d2c7246b7f916dde450010edd244b6e"
  "8dee2244b8ae14818d99f06d709b0796b71d0009b72bc3f58a60ca0024dc7fb3ac6df9cbcb8eab968069dba3ad60eb7c"
  "b3a000ab9a3713163d4c75864ceba66cd4673c8ee3edd1231b78fc0288c651e6ce384cc52a1d9c284a79e397e04620f5"
  "377e0de51d290675dfeff2c41b12f721934ae0bf3c29b29e783a8dd9b4cf34bf37e475e1947618302c6920f409463e36"
  "7fcc06e32569ce97efe8667c0a2617ee593956cf0e2186bdfc91ee4ab614c3bec2d3c5c3cdd68532e41d385884a76073"
  "d58a7e24b00d6bafa3706197e7e0509705309bb4b4c35bde01e1d6cbb8f10759be487937c8d7191a5c24836691bdabf1"
  "7b10c0033b67e2ce22db1f17f10adb635b76e2e81a5b746b713215b8f83f5e4a83508133883f88cb45f0eae738940cf9"
  "954cb74116d904a7f15f1c41707c64186608997d4c3f4dc9ca7bc3f504126fd3f12f2ba56439a738c73778ced8646cdd"
  "645b68e2e01a51bc83469c0d041a2ee07a1b5194859b648945b20d24f03a10b382f9804e00013f3459cb3caf02c089f1"
  "f0648b9b3f15f0d690e36a428ca91e43a4be0721cd45c619b846f527c2498bb88b9b4f16e6120c0d832e24ff98c2e800"
  "1c732e9baf3f8c6be2c0c0c7a93fe06238641e2598a95fd36d7d4df5db3a57a4a16031b54dc5db9aca7c671f813e43cb"
  "228eb2f2e1dec47066b2fe232e1d41bb2cc9972dc9a2cba74cba22fb139cebc268b3b9b6c6a73b0dea6c39d91cc36831"
  "75a8ce57b7c45073b588cb30f8d2d6e30a2c8bed2276e32ce3b6c39032ae58e762ee2e616dba48d6eb22652fc12037ca"
  "7236b7c8d2e0246b8290ae1e39ca3a37ca578c7b1137a252e0f5106d1a6b0014b8baf86c0cb72fd7fd8a287400245d74"
  "c3b6a71b2636a215aacc8003cf1d048bc6cb39ef63f371de0dfb5dc116f5b8ea8d97bfc4603e007fd0000e20b0000";

// Its plaintext: the Heartbeat envelope of docs wef-protocol.md §1.3 B item 2, UTF-16LE + BOM.
const char kHeartbeatXml[] =
  "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
  "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
  "xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" "
  "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" "
  "xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\"><s:Header><a:To>"
  "http://srv.windomain.local:5985/wsman/subscriptions/B6BDBB59-FB07-4EE5-841F-EBEC9D67CDD4/1"
  "</a:To><m:MachineID xmlns:m=\"http://schemas.microsoft.com/wbem/wsman/1/machineid\" "
  "s:mustUnderstand=\"false\">win10.windomain.local</m:MachineID><a:ReplyTo><a:Address "
  "s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
  "</a:Address></a:ReplyTo><a:Action s:mustUnderstand=\"true\">"
  "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat</a:Action><w:MaxEnvelopeSize "
  "s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize><a:MessageID>"
  "uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA</a:MessageID><w:Locale xml:lang=\"en-US\" "
  "s:mustUnderstand=\"false\" /><p:DataLocale xml:lang=\"en-US\" s:mustUnderstand=\"false\" />"
  "<p:SessionId s:mustUnderstand=\"false\">uuid:981C530F-BE2A-4AAB-BACB-6FB4CD1A14AB"
  "</p:SessionId><p:OperationID s:mustUnderstand=\"false\">"
  "uuid:EA2EE566-2CC1-49A0-A726-BCE7DC356E22</p:OperationID><p:SequenceId "
  "s:mustUnderstand=\"false\">1</p:SequenceId><w:OperationTimeout>PT60.000S"
  "</w:OperationTimeout><e:Identifier xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\">"
  "219C5353-5F3D-4CD7-A644-F6B69E57C1C1</e:Identifier><w:AckRequested/></s:Header><s:Body>"
  "<w:Events></w:Events></s:Body></s:Envelope>";

std::string
windows_heartbeat()
{
  return unhex(kWindowsHeartbeatHex);
}

std::string
heartbeat_plain()
{
  return encode_utf16le_with_bom(kHeartbeatXml);
}

} // namespace

// ---------------------------------------------------------------------------- test vectors

Test(sldc, test_string_vector)
{
  // openwec server/src/sldc.rs test decompress_test_string: RESET2 + "test string" in scheme 2.
  std::string out;
  cr_assert(decode(unhex("ffb3a32b9ba1039ba3934b733ffd0000"), out) == SldcResult::Ok);
  cr_assert(out == "test string", "got `%s`", out.c_str());
}

Test(sldc, windows_heartbeat_vector)
{
  const std::string packed = windows_heartbeat();
  const std::string plain = heartbeat_plain();
  cr_assert_eq(packed.size(), 1006u);
  cr_assert_eq(plain.size(), 3042u);
  // Windows framing: RESET1 first (FF AB...), LE32 uncompressed length last.
  cr_assert_eq(static_cast<uint8_t>(packed[0]), 0xFF);
  cr_assert_eq(static_cast<uint8_t>(packed[1]), 0xAB);
  cr_assert(packed.substr(1002) == std::string("\xe2\x0b\x00\x00", 4));
  std::string out;
  cr_assert(decode(packed, out) == SldcResult::Ok);
  cr_assert(out == plain, "heartbeat differs: %zu bytes", out.size());
  // Exactly enough room is enough; one byte less is not.
  cr_assert(decode(packed, out, plain.size()) == SldcResult::Ok);
  cr_assert(decode(packed, out, plain.size() - 1) == SldcResult::TooLarge);
  cr_assert(out.empty());
}

Test(sldc, heartbeat_compress_matches_windows_framing)
{
  const std::string plain = heartbeat_plain();
  const std::string packed = sldc_compress(plain);
  std::fprintf(stderr, "sldc heartbeat: 3042 -> %zu bytes (Windows: 1006)\n", packed.size());
  cr_assert_lt(packed.size(), 1150u);
  cr_assert_eq(static_cast<uint8_t>(packed[0]), 0xFF);
  cr_assert_eq(static_cast<uint8_t>(packed[1]) & 0xF8, 0xA8); // RESET1
  cr_assert_eq(packed.size() % 2, 0u);                        // 16-bit padding + 4-byte trailer
  cr_assert(packed.substr(packed.size() - 4) == std::string("\xe2\x0b\x00\x00", 4));
  std::string out;
  cr_assert(decode(packed, out) == SldcResult::Ok);
  cr_assert(out == plain);
}

// ---------------------------------------------------------------------------- round trips

Test(sldc, corpus_events_round_trip)
{
  const std::vector<std::string> lines = corpus_lines();
  cr_assert_eq(lines.size(), 5916u);
  std::size_t in_total = 0, out_total = 0;
  for (std::size_t i = 0; i < lines.size(); ++i)
    {
      const std::string plain = encode_utf16le_with_bom(lines[i]);
      const std::string packed = sldc_compress(plain);
      std::string out;
      SldcResult r = decode(packed, out);
      cr_assert(r == SldcResult::Ok, "line %zu: %s", i + 1, result_name(r));
      cr_assert(out == plain, "line %zu differs", i + 1);
      in_total += plain.size();
      out_total += packed.size();
    }
  std::fprintf(stderr, "sldc single events: %zu -> %zu bytes (%.3f)\n", in_total, out_total,
               double(out_total) / in_total);
  cr_assert_lt(double(out_total) / in_total, 0.6);
}

Test(sldc, events_body_500k_round_trip)
{
  const std::vector<std::string> lines = corpus_lines();
  const std::string plain = events_body(lines, 0, 500 * 1024);
  cr_assert_gt(plain.size(), 500000u);
  const std::string packed = sldc_compress(plain);
  std::fprintf(stderr, "sldc 500 KB Events body: %zu -> %zu bytes (%.3f)\n", plain.size(),
               packed.size(), double(packed.size()) / plain.size());
  cr_assert_lt(double(packed.size()) / plain.size(), 0.45);
  std::string out;
  cr_assert(decode(packed, out) == SldcResult::Ok);
  cr_assert(out == plain);
}

Test(sldc, special_inputs_round_trip)
{
  expect_round_trip("", "empty");
  expect_round_trip("a", "one byte");
  expect_round_trip("ab", "two bytes");
  expect_round_trip(std::string(1, '\xFF'), "one 0xFF");
  expect_round_trip(std::string(100000, '\0'), "zeros (overlapping copies)");
  expect_round_trip(std::string(5000, '\xFF'), "0xFF run");
  std::string abab;
  for (int i = 0; i < 3000; ++i)
    abab += (i % 2) ? 'b' : 'a';
  expect_round_trip(abab, "period 2");
  // Matches of every length and distance, wrapping around the history end.
  std::mt19937 rng(7);
  std::string mixed;
  while (mixed.size() < 200000)
    {
      if (!mixed.empty() && rng() % 3)
        {
          std::size_t dist = 1 + rng() % std::min<std::size_t>(mixed.size(), 1100);
          std::size_t len = 1 + rng() % 300;
          for (std::size_t k = 0; k < len; ++k)
            mixed += mixed[mixed.size() - dist];
        }
      else
        mixed += static_cast<char>(rng());
    }
  expect_round_trip(mixed, "random matches");
  std::string noise;
  for (int i = 0; i < 70000; ++i)
    noise += static_cast<char>(rng());
  expect_round_trip(noise, "random bytes");
}

Test(sldc, incompressible_input_uses_scheme2)
{
  std::mt19937 rng(11);
  std::string noise;
  for (int i = 0; i < 4096; ++i)
    noise += static_cast<char>(rng());
  const std::string packed = sldc_compress(noise);
  // RESET2 = 1111 1111 1011 0...
  cr_assert_eq(static_cast<uint8_t>(packed[0]), 0xFF);
  cr_assert_eq(static_cast<uint8_t>(packed[1]) & 0xF8, 0xB0);
  cr_assert_lt(packed.size(), noise.size() + noise.size() / 100 + 16);
  std::string out;
  cr_assert(decode(packed, out) == SldcResult::Ok);
  cr_assert(out == noise);
}

Test(sldc, records_back_to_back)
{
  // Two Windows-framed records, then a third without trailer ended by END_MARKER.
  const std::string a = heartbeat_plain();
  const std::string b = encode_utf16le_with_bom("<second record/>");
  Bits third;
  third.control(RESET2);
  for (char c : std::string("tail\xFF"))
    third.raw(static_cast<uint8_t>(c));
  third.control(EOR);
  third.pad_to(8);
  third.control(END_MARKER);
  third.pad_to(8);
  std::string out;
  cr_assert(decode(sldc_compress(a) + sldc_compress(b) + third.bytes, out) == SldcResult::Ok);
  cr_assert(out == a + b + "tail\xFF");
  // The Windows vector followed by one of ours.
  cr_assert(decode(windows_heartbeat() + sldc_compress(b), out) == SldcResult::Ok);
  cr_assert(out == heartbeat_plain() + b);
  // Trailing bytes that are not another record are ignored.
  cr_assert(decode(sldc_compress(b) + "junk", out) == SldcResult::Ok);
  cr_assert(out == b);
}

// ---------------------------------------------------------------------------- control symbols

Test(sldc, control_symbols)
{
  Bits s;
  s.control(RESET1);
  s.literal('A');
  s.literal('B');
  s.control(FILE_MARK); // ignored
  s.copy(4, 0);         // ABAB (overlapping copy)
  s.control(FLUSH);     // zero bits to a 16-bit boundary
  s.pad_to(16);
  s.literal('C');
  s.control(SCHEME2); // history kept
  s.raw(0xFF);
  s.raw('D');
  s.control(SCHEME1);
  s.copy(3, 6); // positions 6,7,8 = C FF D
  s.control(RESET2);
  s.raw('E');
  s.control(SCHEME1);
  s.copy(2, 0); // after the reset, position 0 is 'E', position 1 is the byte being written
  s.control(EOR);
  std::string out;
  cr_assert(decode(s.bytes, out) == SldcResult::Ok, "%s", result_name(decode(s.bytes, out)));
  cr_assert(out == std::string("ABABABC\xFF" "DC\xFF" "DEEE"), "got %zu bytes", out.size());

  // END_MARKER also ends the stream; nothing after it is read.
  Bits m;
  m.control(RESET2);
  m.raw('x');
  m.control(END_MARKER);
  m.put(0x12345, 20);
  cr_assert(decode(m.bytes, out) == SldcResult::Ok);
  cr_assert(out == "x");

  // Reserved control codes are corrupt.
  for (unsigned code = 7; code < 15; ++code)
    {
      Bits r;
      r.control(RESET1);
      r.literal('x');
      r.control(code);
      r.control(EOR);
      cr_assert(decode(r.bytes, out) == SldcResult::Corrupt, "code %u", code);
    }
}

Test(sldc, history_is_absolute_and_circular)
{
  // 1100 distinct-ish literals, then copies addressed by absolute position: position p holds
  // the byte written last at p, i.e. byte 1024 + p for p < 76, byte p otherwise.
  std::string plain;
  for (int i = 0; i < 1100; ++i)
    plain += static_cast<char>((i * 7 + i / 256) & 0xFF);
  Bits s;
  s.control(RESET1);
  for (char c : plain)
    s.literal(static_cast<uint8_t>(c));
  std::string expect = plain;
  auto copy = [&](unsigned len, unsigned position) {
    s.copy(len, position);
    for (unsigned k = 0; k < len; ++k)
      {
        const std::size_t written = expect.size();
        const std::size_t cur = written % 1024;
        const std::size_t p = (position + k) % 1024;
        const std::size_t src = p < cur ? written - cur + p : written - cur - 1024 + p;
        expect += expect[src];
      }
  };
  copy(10, 5);     // written in the current lap
  copy(40, 1000);  // previous lap, wrapping from 1023 to 0
  copy(271, 100);  // longest copy
  copy(32, 1023);  // wrap
  s.control(EOR);
  std::string out;
  cr_assert(decode(s.bytes, out) == SldcResult::Ok);
  cr_assert(out == expect);
}

Test(sldc, unwritten_history_reads_zero)
{
  Bits s;
  s.control(RESET1);
  s.literal('a');
  s.copy(4, 1022); // positions 1022, 1023 never written, then 0 ('a') and 1 (being written: 0)
  s.control(EOR);
  std::string out;
  cr_assert(decode(s.bytes, out) == SldcResult::Ok);
  cr_assert(out == std::string("a\0\0a\0", 5), "got %zu bytes", out.size());
}

// ---------------------------------------------------------------------------- limits, errors

Test(sldc, too_large_is_refused_while_decoding)
{
  // 23 KB of stream expand to 2 MB of zeros.
  Bits s;
  s.control(RESET1);
  s.literal(0);
  for (int i = 0; i < 8000; ++i)
    s.copy(271, 0);
  s.control(EOR);
  std::string out;
  const std::size_t full = 1 + 8000 * 271;
  cr_assert(decode(s.bytes, out, 1000) == SldcResult::TooLarge);
  cr_assert(out.empty());
  cr_assert(decode(s.bytes, out, full - 1) == SldcResult::TooLarge);
  cr_assert(decode(s.bytes, out, full) == SldcResult::Ok);
  cr_assert_eq(out.size(), full);
  cr_assert_leq(out.capacity(), full + 64, "capacity %zu", out.capacity());
  std::string error;
  cr_assert(sldc_decompress(s.bytes, out, 4096, error) == SldcResult::TooLarge);
  cr_assert(error.find("limit") != std::string::npos, "%s", error.c_str());

  // Compressed zeros with a small limit.
  const std::string packed = sldc_compress(std::string(1 << 20, '\0'));
  cr_assert_lt(packed.size(), 50000u);
  cr_assert(decode(packed, out, 100) == SldcResult::TooLarge);
  cr_assert(decode(packed, out, 0) == SldcResult::TooLarge);
}

Test(sldc, not_sldc)
{
  std::string out;
  cr_assert(decode("", out) == SldcResult::NotSldc);
  cr_assert(decode("\xFF", out) == SldcResult::NotSldc);
  // An uncompressed UTF-16 body that Windows labelled SLDC (FF FE 3C 00 ...).
  cr_assert(decode(heartbeat_plain(), out) == SldcResult::NotSldc);
  cr_assert(out.empty());
  cr_assert(decode(encode_utf16le_with_bom("<s:Envelope/>"), out) == SldcResult::NotSldc);
  cr_assert(decode("<s:Envelope xmlns:s=\"x\"/>", out) == SldcResult::NotSldc);
  // A control symbol that cannot start a stream.
  Bits eor;
  eor.control(EOR);
  cr_assert(decode(eor.bytes + std::string(4, '\0'), out) == SldcResult::NotSldc);
  Bits marker;
  marker.control(END_MARKER);
  cr_assert(decode(marker.bytes, out) == SldcResult::NotSldc);
}

Test(sldc, corrupt_inputs)
{
  std::string out;
  // No END_OF_RECORD.
  Bits s;
  s.control(RESET1);
  s.literal('a');
  cr_assert(decode(s.bytes, out) == SldcResult::Corrupt);
  // A scheme-1 stream cut inside a copy pointer.
  Bits c;
  c.control(RESET1);
  c.literal('a');
  c.put(1, 1);
  c.put(0x6, 3);
  cr_assert(decode(c.bytes, out) == SldcResult::Corrupt);
  // FLUSH at the end of the data, no END_OF_RECORD.
  Bits f;
  f.control(RESET2);
  f.control(FLUSH);
  cr_assert(decode(f.bytes, out) == SldcResult::Corrupt);
}

Test(sldc, every_prefix_of_valid_streams)
{
  const std::string plain = heartbeat_plain();
  const std::vector<std::string> lines = corpus_lines();
  const std::string event = encode_utf16le_with_bom(lines[265]);
  const std::pair<std::string, std::string> streams[] = {
    {windows_heartbeat(), plain},
    {sldc_compress(plain), plain},
    {sldc_compress(event), event},
    {unhex("ffb3a32b9ba1039ba3934b733ffd0000"), "test string"},
  };
  for (const auto &[packed, expect] : streams)
    for (std::size_t n = 0; n <= packed.size(); ++n)
      {
        std::string out;
        SldcResult r = decode(packed.substr(0, n), out);
        if (r == SldcResult::Ok)
          cr_assert(out == expect, "prefix %zu of %zu decodes to different data", n, packed.size());
        else
          cr_assert(r == SldcResult::Corrupt || r == SldcResult::NotSldc, "prefix %zu: %s", n,
                    result_name(r));
      }
}

Test(sldc, bit_flips_and_random_bytes_do_not_crash)
{
  const std::string packed = windows_heartbeat();
  std::size_t ok = 0, other = 0;
  for (std::size_t bit = 0; bit < packed.size() * 8; ++bit)
    {
      std::string damaged = packed;
      damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (0x80 >> (bit % 8)));
      std::string out;
      SldcResult r = decode(damaged, out, 8192);
      (r == SldcResult::Ok ? ok : other)++;
      cr_assert_leq(out.size(), 8192u);
    }
  std::mt19937 rng(1234);
  for (int round = 0; round < 20000; ++round)
    {
      std::string noise(rng() % 600, '\0');
      for (auto &c : noise)
        c = static_cast<char>(rng());
      if (round % 2 && noise.size() >= 2) // get past the first-symbol check
        {
          noise[0] = '\xFF';
          noise[1] = static_cast<char>((round % 4 == 1 ? 0xA8 : 0xB0) | (rng() & 7));
        }
      std::string out;
      SldcResult r = decode(noise, out, 1 << 16);
      cr_assert_leq(out.size(), 1u << 16);
      if (r != SldcResult::Ok)
        cr_assert(out.empty());
    }
  std::fprintf(stderr, "sldc bit flips: %zu decoded, %zu rejected\n", ok, other);
}

// ---------------------------------------------------------------------------- Python encoder

Test(sldc, python_committed_vector)
{
  std::string text = read_file(WEC_TEST_DATA_DIR "/sldc-python-vector.txt");
  const std::string plain = encode_utf16le_with_bom(text);
  const std::string packed = read_file(WEC_TEST_DATA_DIR "/sldc-python-vector.bin");
  std::string out;
  cr_assert(decode(packed, out) == SldcResult::Ok);
  cr_assert(out == plain, "python vector decodes to %zu bytes, want %zu", out.size(), plain.size());
  // The two encoders implement the same algorithm.
  cr_assert(sldc_compress(plain) == packed, "C++ and Python encoders differ");
}

Test(sldc, python_live_cross_check)
{
  const char *python = "/usr/bin/python3";
  const std::string script = WEC_TEST_DATA_DIR "/../simulator/sldc.py";
  if (access(python, X_OK) != 0 || access(script.c_str(), R_OK) != 0)
    {
      cr_log_warn("skipped: %s or %s missing", python, script.c_str());
      return;
    }
  char dir_template[] = "/tmp/test_sldc.XXXXXX";
  const char *dir = mkdtemp(dir_template);
  cr_assert(dir != nullptr);
  const std::vector<std::string> lines = corpus_lines();
  const std::string inputs[] = {
    heartbeat_plain(),
    encode_utf16le_with_bom(lines[0]),
    encode_utf16le_with_bom(lines[265]),
    events_body(lines, 1000, 60 * 1024),
    std::string(3000, '\xFF'),
  };
  int index = 0;
  for (const std::string &plain : inputs)
    {
      const std::string in = std::string(dir) + "/in" + std::to_string(index);
      const std::string py_out = std::string(dir) + "/py" + std::to_string(index);
      const std::string py_back = std::string(dir) + "/back" + std::to_string(index);
      const std::string cpp_out = std::string(dir) + "/cpp" + std::to_string(index);
      write_file(in, plain);
      const std::string ours = sldc_compress(plain);
      write_file(cpp_out, ours);
      const std::string compress_cmd =
        std::string("timeout 120 ") + python + " " + script + " compress " + in + " " + py_out;
      cr_assert_eq(std::system(compress_cmd.c_str()), 0, "%s", compress_cmd.c_str());
      const std::string decompress_cmd =
        std::string("timeout 120 ") + python + " " + script + " decompress " + cpp_out + " " + py_back;
      cr_assert_eq(std::system(decompress_cmd.c_str()), 0, "%s", decompress_cmd.c_str());

      const std::string theirs = read_file(py_out);
      std::string out;
      cr_assert(decode(theirs, out) == SldcResult::Ok, "input %d", index);
      cr_assert(out == plain, "input %d: python output decodes differently", index);
      cr_assert(theirs == ours, "input %d: python %zu bytes, C++ %zu bytes", index, theirs.size(),
                ours.size());
      cr_assert(read_file(py_back) == plain, "input %d: python decoder differs", index);
      for (const std::string &f : {in, py_out, py_back, cpp_out})
        std::remove(f.c_str());
      ++index;
    }
  rmdir(dir);
}

// ---------------------------------------------------------------------------- throughput

Test(sldc, throughput)
{
  const std::vector<std::string> lines = corpus_lines();
  std::vector<std::string> plain, packed;
  std::size_t plain_bytes = 0, packed_bytes = 0;
  for (std::size_t first = 0; plain_bytes < 8u * 1024 * 1024; first += 250)
    {
      plain.push_back(events_body(lines, first, 500 * 1024));
      plain_bytes += plain.back().size();
    }
  auto start = std::chrono::steady_clock::now();
  for (const auto &p : plain)
    {
      packed.push_back(sldc_compress(p));
      packed_bytes += packed.back().size();
    }
  const double compress_s =
    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::string out;
  start = std::chrono::steady_clock::now();
  const int rounds = 3;
  for (int round = 0; round < rounds; ++round)
    for (std::size_t i = 0; i < packed.size(); ++i)
      cr_assert(decode(packed[i], out, 1 << 20) == SldcResult::Ok);
  const double decompress_s =
    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  cr_assert(out == plain.back());

  const double compress_mb = plain_bytes / compress_s / 1e6;
  const double decompress_mb = rounds * plain_bytes / decompress_s / 1e6;
  std::fprintf(stderr,
               "sldc: %zu bodies, ratio %.3f, compress %.0f MB/s, decompress %.0f MB/s of output\n",
               plain.size(), double(packed_bytes) / plain_bytes, compress_mb, decompress_mb);
  cr_assert_gt(decompress_mb, 100.0);
  cr_assert_gt(compress_mb, 20.0);
}
