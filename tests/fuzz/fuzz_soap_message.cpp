// libFuzzer target: request body bytes -> decode_body() -> parse_message(), the path every
// HTTP request of a forwarder takes (wec-source/collector/collector.cpp).
//
// Besides "no crash, no sanitizer report" it checks two properties:
//  * decode_body() output is valid UTF-8 without XML-forbidden characters, so it survives
//    encode_utf16le_with_bom() -> decode_body() unchanged;
//  * parse_message() success implies the fields it promises (Action, MessageID).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>

#include "codec/utf16.hpp"
#include "wsman/message.hpp"

namespace {

[[noreturn]] void fail(const char *what)
{
  std::fprintf(stderr, "fuzz_soap_message: property violated: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  std::string_view body(reinterpret_cast<const char *>(data), size);
  std::string text, error;
  if (!wec::codec::decode_body(body, text, error))
    {
      if (error.empty())
        fail("decode_body failed without a reason");
      return 0;
    }

  // Round trip through the encoder the collector uses for its replies.
  std::string again, again_error;
  if (!wec::codec::decode_body(wec::codec::encode_utf16le_with_bom(text), again, again_error))
    fail("decoded text does not survive encode_utf16le_with_bom -> decode_body");
  if (again != text)
    fail("encode_utf16le_with_bom -> decode_body changed the text");

  wec::wsman::Message message;
  if (wec::wsman::parse_message(text, message, error))
    {
      if (message.action_uri.empty() || message.message_id.empty())
        fail("parse_message accepted a message without Action or MessageID");
    }
  else if (error.empty())
    fail("parse_message failed without a reason");
  return 0;
}
