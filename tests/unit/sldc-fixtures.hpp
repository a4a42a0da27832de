// What the SLDC tests share: the corpus as Events bodies, hex and file helpers, a bounded
// decode, a round-trip check, and a captured Windows heartbeat.
#pragma once

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

namespace sldc_fixtures {

inline const char *result_name(SldcResult r)
{
  switch (r)
    {
    case SldcResult::Ok: return "Ok";
    case SldcResult::NotSldc: return "NotSldc";
    case SldcResult::Corrupt: return "Corrupt";
    case SldcResult::TooLarge: return "TooLarge";
    }
  return "?";
}

inline std::string unhex(const std::string &hex)
{
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

inline std::string read_file(const std::string &path)
{
  std::ifstream in(path, std::ios::binary);
  cr_assert(in.good(), "cannot open %s", path.c_str());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string &path, const std::string &data)
{
  std::ofstream out(path, std::ios::binary);
  out << data;
  cr_assert(out.good(), "cannot write %s", path.c_str());
}

inline std::vector<std::string> corpus_lines()
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

inline std::string wrap_event(const std::string &event)
{
  return "<w:Event Action=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Event\"><![CDATA[" + event + "]]></w:Event>";
}

// An Events body of corpus events, UTF-16LE with BOM, about `bytes` long, starting at `first`.
inline std::string events_body(const std::vector<std::string> &lines, std::size_t first, std::size_t bytes)
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
  void control(unsigned code) { put((0x1FFu << 4) | code, 13); }
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
  std::size_t bit_count() const { return bytes.size() * 8 - (used ? 8 - used : 0); }
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

inline SldcResult decode(const std::string &in, std::string &out, std::size_t max = 64u << 20)
{
  std::string error;
  SldcResult r = sldc_decompress(in, out, max, error);
  if (r != SldcResult::Ok)
    cr_assert(!error.empty(), "no error text for %s", result_name(r));
  return r;
}

inline void expect_round_trip(const std::string &plain, const char *what)
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

inline std::string windows_heartbeat() { return unhex(kWindowsHeartbeatHex); }

inline std::string heartbeat_plain() { return encode_utf16le_with_bom(kHeartbeatXml); }

} // namespace sldc_fixtures
