// Unit tests for wec::codec (UTF-16 <-> UTF-8 conversion of WS-Management bodies).
#include <criterion/criterion.h>

#include "expect.hpp"

#include <chrono>
#include <cstdio>
#include <string>

#include "codec/utf16.hpp"

using wec::codec::decode_body;
using wec::codec::encode_utf16le_with_bom;

namespace {

// Plain UTF-16LE encoding of code points, independent of the code under test.
std::string utf16(const std::u32string &text, bool big_endian, bool bom)
{
  std::string out;
  auto unit = [&](unsigned u) {
    if (big_endian)
      {
        out += static_cast<char>(u >> 8);
        out += static_cast<char>(u & 0xFF);
      }
    else
      {
        out += static_cast<char>(u & 0xFF);
        out += static_cast<char>(u >> 8);
      }
  };
  if (bom)
    unit(0xFEFF);
  for (char32_t c : text)
    {
      if (c >= 0x10000)
        {
          unsigned v = static_cast<unsigned>(c) - 0x10000;
          unit(0xD800 + (v >> 10));
          unit(0xDC00 + (v & 0x3FF));
        }
      else
        unit(static_cast<unsigned>(c));
    }
  return out;
}

std::string decode_ok(const std::string &bytes)
{
  std::string out, error;
  bool ok = decode_body(bytes, out, error);
  cr_assert(ok, "decode failed: %s", error.c_str());
  cr_assert(error.empty());
  return out;
}

std::string decode_error(const std::string &bytes)
{
  std::string out = "garbage", error;
  bool ok = decode_body(bytes, out, error);
  cr_assert_not(ok, "decode unexpectedly succeeded");
  return error;
}

const std::string kEnvelope = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope>";

} // namespace

Test(codec, utf16le_with_bom)
{
  std::string bytes =
      utf16(U"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope>", false, true);
  cr_assert_eq(static_cast<unsigned char>(bytes[0]), 0xFF);
  EXPECT_STR(decode_ok(bytes).c_str(), kEnvelope.c_str());
}

Test(codec, utf16le_without_bom)
{
  std::string bytes =
      utf16(U"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope>", false, false);
  EXPECT_STR(decode_ok(bytes).c_str(), kEnvelope.c_str());
}

Test(codec, utf16be_with_bom)
{
  std::string bytes = utf16(U"<a>caf\u00e9 \u65e5\u672c \U00020BB7</a>", true, true);
  cr_assert_eq(static_cast<unsigned char>(bytes[0]), 0xFE);
  EXPECT_STR(decode_ok(bytes).c_str(), "<a>caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\xA0\xAE\xB7</a>");
}

Test(codec, utf8_with_and_without_bom)
{
  std::string text = "<a>caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\xA0\xAE\xB7</a>";
  EXPECT_STR(decode_ok("\xEF\xBB\xBF" + text).c_str(), text.c_str());
  EXPECT_STR(decode_ok(text).c_str(), text.c_str());
  EXPECT_STR(decode_ok("").c_str(), "");
}

Test(codec, surrogate_pair)
{
  // U+20BB7 (𠮷) = D842 DFB7
  std::string bytes =
      std::string("\xFF\xFE", 2) + std::string("<\0", 2) + std::string("\x42\xD8\xB7\xDF", 4) + std::string(">\0", 2);
  std::string out = decode_ok(bytes);
  EXPECT_STR(out.c_str(), "<\xF0\xA0\xAE\xB7>");
  cr_assert_eq(out.size(), 6u);
}

Test(codec, japanese_text_long)
{
  // Long enough to exercise both the fast ASCII path and the general path, in every alignment.
  std::u32string text;
  std::string expected;
  for (int i = 0; i < 200; ++i)
    {
      text += U"<Message>"
              U"\u30a2\u30ab\u30a6\u30f3\u30c8\u304c\u6b63\u5e38\u306b\u30ed\u30b0\u30aa\u30f3\u3057\u307e\u3057\u305f"
              U"\u3002 abc</Message>";
      expected +=
          "<Message>\xE3\x82\xA2\xE3\x82\xAB\xE3\x82\xA6\xE3\x83\xB3\xE3\x83\x88\xE3\x81\x8C\xE6\xAD\xA3\xE5\xB8\xB8"
          "\xE3\x81\xAB\xE3\x83\xAD\xE3\x82\xB0\xE3\x82\xAA\xE3\x83\xB3\xE3\x81\x97\xE3\x81\xBE\xE3\x81\x97"
          "\xE3\x81\x9F\xE3\x80\x82 abc</Message>";
      text += U"x";
      expected += "x";
    }
  cr_assert(decode_ok(utf16(text, false, true)) == expected);
  cr_assert(decode_ok(utf16(text, false, false)) == expected);
  cr_assert(decode_ok(utf16(text, true, true)) == expected);
  cr_assert(decode_ok(expected) == expected);
}

Test(codec, odd_length)
{
  std::string bytes = utf16(U"<abc/>", false, true) + "x"; // 2 + 12 + 1 = 15
  EXPECT_STR(decode_error(bytes).c_str(), "odd number of bytes (15) in a UTF-16 body");
  std::string be = utf16(U"<abc/>", true, true) + "x";
  EXPECT_STR(decode_error(be).c_str(), "odd number of bytes (15) in a UTF-16 body");
}

Test(codec, lone_surrogates)
{
  // BOM(2) + "<a>"(6) then a lone high surrogate followed by 'b'.
  std::string high =
      std::string("\xFF\xFE", 2) + std::string("<\0a\0>\0", 6) + std::string("\x3D\xD8", 2) + std::string("b\0", 2);
  EXPECT_STR(decode_error(high).c_str(), "lone surrogate at byte offset 8");
  // A lone low surrogate.
  std::string low = std::string("\xFF\xFE", 2) + std::string("<\0", 2) + std::string("\x00\xDC", 2);
  EXPECT_STR(decode_error(low).c_str(), "lone surrogate at byte offset 4");
  // A high surrogate at the very end.
  std::string end = std::string("<\0a\0", 4) + std::string("\x3D\xD8", 2);
  EXPECT_STR(decode_error(end).c_str(), "lone surrogate at byte offset 4");
  // Big-endian: FE FF then 00 3C D8 3D 00 62
  std::string be = std::string("\xFE\xFF\x00<\xD8\x3D\x00\x62", 8);
  EXPECT_STR(decode_error(be).c_str(), "lone surrogate at byte offset 4");
  // Lone surrogate deep inside a long ASCII run (past the 4-unit fast path).
  std::u32string text(1001, U'a');
  std::string bytes = utf16(text, false, true) + std::string("\x00\xD8", 2) + std::string("a\0", 2);
  EXPECT_STR(decode_error(bytes).c_str(), "lone surrogate at byte offset 2004");
}

Test(codec, invalid_utf8)
{
  EXPECT_STR(decode_error("<a>\xC3</a>").c_str(), "invalid UTF-8 at byte offset 3");
  EXPECT_STR(decode_error("<a>\xC0\xAF</a>").c_str(), "invalid UTF-8 at byte offset 3");         // overlong
  EXPECT_STR(decode_error("<a>\xED\xA0\x80</a>").c_str(), "invalid UTF-8 at byte offset 3");     // surrogate
  EXPECT_STR(decode_error("<a>\xF4\x90\x80\x80</a>").c_str(), "invalid UTF-8 at byte offset 3"); // > 10FFFF
  EXPECT_STR(decode_error("\xEF\xBB\xBF<abcdefghijkl>\xFF").c_str(), "invalid UTF-8 at byte offset 17");
}

Test(codec, forbidden_characters_replaced)
{
  // \x05 inside an event, from UTF-16LE (fast path and slow path alike).
  std::string bytes = utf16(U"<Data>abcdefgh\x05ijklmnop\x01\t\n\r\uFFFE\uFFFF\x7F</Data>", false, true);
  std::string expected = "<Data>abcdefgh\xEF\xBF\xBDijklmnop\xEF\xBF\xBD\t\n\r\xEF\xBF\xBD\xEF\xBF\xBD\x7F</Data>";
  EXPECT_STR(decode_ok(bytes), expected);
  cr_assert(decode_ok(utf16(U"<Data>abcdefgh\x05ijklmnop\x01\t\n\r\uFFFE\uFFFF\x7F</Data>", true, true)) == expected);
  // Same from UTF-8.
  std::string utf8 = "<Data>abcdefgh\x05ijklmnop\x01\t\n\r\xEF\xBF\xBE\xEF\xBF\xBF\x7F</Data>";
  cr_assert(decode_ok(utf8) == expected);
  // NUL is a C0 control too.
  std::string with_nul = std::string("\xFF\xFE", 2) + std::string("a\0\0\0b\0", 6);
  cr_assert(decode_ok(with_nul) == "a\xEF\xBF\xBD"
                                   "b");
}

Test(codec, encode_has_bom_and_le_units)
{
  std::string out = encode_utf16le_with_bom("<a>\xC3\xA9\xF0\xA0\xAE\xB7</a>");
  std::string expected = std::string("\xFF\xFE", 2) + std::string("<\0a\0>\0", 6) + std::string("\xE9\x00", 2) +
                         std::string("\x42\xD8\xB7\xDF", 4) + std::string("<\0/\0a\0>\0", 8);
  cr_assert_eq(out.size(), expected.size());
  cr_assert(out == expected);
  cr_assert(encode_utf16le_with_bom("") == std::string("\xFF\xFE", 2));
}

Test(codec, encode_invalid_utf8_becomes_replacement)
{
  std::string out = encode_utf16le_with_bom("a\xFF"
                                            "b");
  std::string expected =
      std::string("\xFF\xFE", 2) + std::string("a\0", 2) + std::string("\xFD\xFF", 2) + std::string("b\0", 2);
  cr_assert(out == expected);
}

Test(codec, round_trip)
{
  std::string text;
  for (int i = 0; i < 300; ++i)
    text += "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
            "\xE3\x83\xAD\xE3\x82\xB0 caf\xC3\xA9 \xF0\xA0\xAE\xB7 \xF0\x9F\x98\x80 \xC2\xA0\xE2\x82\xAC"
            "\xEF\xBF\xBD\xEE\x80\x80\xED\x9F\xBF\xF4\x8F\xBF\xBF</Event>\n";
  std::string encoded = encode_utf16le_with_bom(text);
  cr_assert(decode_ok(encoded) == text);
  // And every truncation to an even length either decodes or reports a lone surrogate.
  for (size_t n = 2; n < 400; n += 2)
    {
      std::string out, error;
      if (!decode_body(std::string_view(encoded).substr(0, n), out, error))
        cr_assert(error.rfind("lone surrogate at byte offset ", 0) == 0, "%s", error.c_str());
    }
}

Test(codec, throughput)
{
  // 8 MB of mostly-ASCII UTF-16 (like real event batches); report MB/s, require a sane floor.
  std::string text;
  while (text.size() < 4 * 1024 * 1024)
    text += "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider "
            "Name='Microsoft-Windows-Security-Auditing'/><EventID>4624</EventID></System><EventData><Data "
            "Name='TargetUserName'>\xE3\x83\xAD\xE3\x82\xB0</Data></EventData></Event>";
  std::string encoded = encode_utf16le_with_bom(text);
  std::string out, error;
  auto start = std::chrono::steady_clock::now();
  const int rounds = 10;
  for (int i = 0; i < rounds; ++i)
    cr_assert(decode_body(encoded, out, error));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double mb_per_s = rounds * encoded.size() / seconds / 1e6;
  std::fprintf(stderr, "decode_body UTF-16LE: %.0f MB/s of UTF-16\n", mb_per_s);
  cr_assert(out == text);
  cr_assert_gt(mb_per_s, 100.0);
}
