// SLDC robustness: limits, corrupt, truncated and random input never crash the decoder and get
// a one-line reason; and agreement with the Python encoder of the forwarder simulator
// (tests/simulator/sldc.py), see test_sldc.cpp for how the cross-check works.
#include "sldc-fixtures.hpp"

using namespace sldc_fixtures;

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
          cr_assert(r == SldcResult::Corrupt || r == SldcResult::NotSldc, "prefix %zu: %s", n, result_name(r));
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
      cr_assert(theirs == ours, "input %d: python %zu bytes, C++ %zu bytes", index, theirs.size(), ours.size());
      cr_assert(read_file(py_back) == plain, "input %d: python decoder differs", index);
      for (const std::string &f : {in, py_out, py_back, cpp_out})
        std::remove(f.c_str());
      ++index;
    }
  rmdir(dir);
}
