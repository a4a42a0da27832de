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
#include "sldc-fixtures.hpp"

using namespace sldc_fixtures;

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
  std::fprintf(stderr, "sldc 500 KB Events body: %zu -> %zu bytes (%.3f)\n", plain.size(), packed.size(),
               double(packed.size()) / plain.size());
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
  cr_assert(out == std::string("ABABABC\xFF"
                               "DC\xFF"
                               "DEEE"),
            "got %zu bytes", out.size());

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
  copy(10, 5);    // written in the current lap
  copy(40, 1000); // previous lap, wrapping from 1023 to 0
  copy(271, 100); // longest copy
  copy(32, 1023); // wrap
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
