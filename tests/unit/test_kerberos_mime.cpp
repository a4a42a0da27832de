// Unit tests for the Kerberos parts that need no KDC: the multipart/encrypted framing of
// wec::auth::mime (Windows' layout and the specification's, every truncation, bad lengths and
// content types, the layout of the bodies the collector writes) and the helpers (base64 of the
// Authorization header tokens, the identity names of a client principal).
#include <criterion/criterion.h>

#include <cstdint>
#include <string>

#include "auth/base64.hpp"
#include "auth/encrypted-mime.hpp"
#include "auth/kerberos.hpp"
#include "expect.hpp"
#include "kerberos-fixtures.hpp"

using namespace wec::auth;
using namespace kerberos_fixtures;

// =============================================================================================
// MIME framing (no KDC)

Test(mime, parses_windows_framing_without_tabs)
{
  const std::string header(60, 'H'), cipher = "0123456789";
  const std::string body = hand_body("", "Encrypted Boundary", 10, header, cipher);
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  cr_assert(mime::parse(kKrbContentType, body, parts, error, kind), "%s", error.c_str());
  cr_assert(parts.protocol == mime::Protocol::Kerberos);
  EXPECT_STR(std::string(parts.original_type), kSoapType);
  cr_assert_eq(parts.original_length, 10u);
  EXPECT_STR(std::string(parts.token_header), header);
  EXPECT_STR(std::string(parts.ciphertext), cipher);
}

Test(mime, parses_spec_framing_with_tabs_and_spnego)
{
  const std::string header(60, '\r'), cipher = "--Encrypted Boundary--\r\n"; // the ciphertext may look like anything
  std::string body = hand_body("\t", "Encrypted Boundary", cipher.size(), header, cipher);
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  cr_assert(mime::parse("multipart/encrypted; protocol=\"application/HTTP-SPNEGO-session-encrypted\"; "
                        "boundary=\"Encrypted Boundary\"",
                        body, parts, error, kind),
            "%s", error.c_str());
  cr_assert(parts.protocol == mime::Protocol::Spnego);
  EXPECT_STR(std::string(parts.ciphertext), cipher);
  EXPECT_STR(std::string(parts.token_header), header);
}

Test(mime, unquoted_and_other_boundaries)
{
  const std::string header(60, 'h'), cipher = "abc";
  const std::string body = hand_body("", "b0undary-XYZ", 3, header, cipher);
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  cr_assert(
      mime::parse("Multipart/Encrypted;protocol=application/HTTP-Kerberos-session-encrypted;boundary=b0undary-XYZ",
                  body, parts, error, kind),
      "%s", error.c_str());
  EXPECT_STR(std::string(parts.ciphertext), cipher);
  // The wrong boundary fails.
  cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind));
  cr_assert(kind == mime::ParseError::Malformed);
}

Test(mime, tolerates_crlf_before_closing_boundary)
{
  const std::string header(60, 'h'), cipher = "abcdef";
  const std::string body = hand_body("\t", "Encrypted Boundary", 6, header, cipher, "\r\n");
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  cr_assert(mime::parse(kKrbContentType, body, parts, error, kind), "%s", error.c_str());
  EXPECT_STR(std::string(parts.ciphertext), cipher);
  // A ciphertext that itself ends in CRLF (length matches) keeps it.
  const std::string body2 = hand_body("", "Encrypted Boundary", 8, header, "abcdef\r\n");
  cr_assert(mime::parse(kKrbContentType, body2, parts, error, kind), "%s", error.c_str());
  EXPECT_STR(std::string(parts.ciphertext), "abcdef\r\n");
}

Test(mime, rejects_bad_content_types)
{
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  const std::string body = hand_body("", "Encrypted Boundary", 3, std::string(60, 'h'), "abc");
  cr_assert_not(mime::parse("application/soap+xml;charset=UTF-16", body, parts, error, kind));
  cr_assert(kind == mime::ParseError::BadContentType);
  cr_assert_not(mime::parse("multipart/encrypted;protocol=\"application/HTTP-CredSSP-session-encrypted\";boundary=x",
                            body, parts, error, kind));
  cr_assert(kind == mime::ParseError::BadContentType);
  cr_assert_not(mime::parse("multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\"", body, parts,
                            error, kind));
  cr_assert_not(mime::parse("multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\";boundary=\"x",
                            body, parts, error, kind));
  cr_assert(mime::is_encrypted_content_type(kKrbContentType));
  cr_assert_not(mime::is_encrypted_content_type("application/soap+xml;charset=UTF-16"));
}

Test(mime, every_truncation_fails_cleanly)
{
  const std::string header(60, 'h'), cipher(100, 'c');
  const std::string body = hand_body("\t", "Encrypted Boundary", 100, header, cipher);
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  cr_assert(mime::parse(kKrbContentType, body, parts, error, kind));
  // Cut anywhere before the closing boundary is complete: always a clean error, never a read
  // past the (copied, exactly sized) buffer. Cuts that remove only the final CRLF are accepted.
  for (std::size_t cut = 0; cut < body.size() - 2; ++cut)
    {
      std::string truncated = body.substr(0, cut);
      truncated.shrink_to_fit();
      bool ok = mime::parse(kKrbContentType, truncated, parts, error, kind);
      cr_assert_not(ok, "truncated at %zu of %zu was accepted", cut, body.size());
      cr_assert(kind == mime::ParseError::Malformed);
      cr_assert(!error.empty());
    }
}

Test(mime, huge_or_zero_header_length)
{
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  const std::string prefix = "--Encrypted Boundary\r\n\tContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"
                             "\tOriginalContent: type=application/soap+xml;charset=UTF-16;Length=3\r\n"
                             "--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n";
  const std::string tail = std::string(60, 'h') + "abc--Encrypted Boundary--\r\n";
  for (std::uint32_t bad : {0xffffffffu, 0x7fffffffu, 100000u, 4097u, 0u, 88u})
    {
      const std::string body = prefix + le32(bad) + tail;
      cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind), "header length %u accepted", bad);
      cr_assert(kind == mime::ParseError::Malformed);
    }
  cr_assert(mime::parse(kKrbContentType, prefix + le32(60) + tail, parts, error, kind), "%s", error.c_str());
}

Test(mime, missing_parts_and_bad_original_content)
{
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  const std::string h(60, 'h');
  const std::string second = "--Encrypted Boundary\r\nContent-Type: application/octet-stream\r\n" + le32(60) + h +
                             "abc--Encrypted Boundary--\r\n";
  // No OriginalContent.
  std::string body = "--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n" + second;
  cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind));
  EXPECT_CONTAINS(error, "OriginalContent");
  // Length not a number / missing.
  for (const char *oc : {"type=application/soap+xml;Length=abc", "type=application/soap+xml",
                         "type=application/soap+xml;Length=", "type=x;Length=99999999999999999999"})
    {
      body = "--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\nOriginalContent: " +
             std::string(oc) + "\r\n" + second;
      cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind), "accepted %s", oc);
    }
  // Second part not octet-stream.
  body = "--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"
         "OriginalContent: type=a;Length=3\r\n--Encrypted Boundary\r\nContent-Type: text/plain\r\n" +
         le32(60) + h + "abc--Encrypted Boundary--\r\n";
  cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind));
  // Only the first part.
  body = "--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"
         "OriginalContent: type=a;Length=3\r\n--Encrypted Boundary--\r\n";
  cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind));
  // Empty body.
  cr_assert_not(mime::parse(kKrbContentType, "", parts, error, kind));
  // Garbage.
  cr_assert_not(mime::parse(kKrbContentType, std::string(1000, '\0'), parts, error, kind));
}

Test(mime, frame_lays_out_the_body_like_the_specification)
{
  const std::string plaintext = "hello world";
  const std::string header(60, 'H'), padding = "";
  std::string body;
  mime::Layout l = mime::frame(body, mime::Protocol::Kerberos, kSoapType, plaintext, header.size(), 4);
  cr_assert_eq(l.total, body.size());
  body.replace(l.header_offset, header.size(), header);
  EXPECT_STR(body.substr(l.data_offset, plaintext.size()), plaintext);
  mime::shrink_padding(body, l, 0);
  EXPECT_STR(body, hand_body("\t", "Encrypted Boundary", plaintext.size(), header, plaintext));
  EXPECT_STR(mime::content_type(mime::Protocol::Kerberos), kKrbContentType);
  EXPECT_STR(
      mime::content_type(mime::Protocol::Spnego),
      "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"");
}

// =============================================================================================
// Helpers

Test(helpers, base64)
{
  EXPECT_STR(base64_encode(""), "");
  EXPECT_STR(base64_encode("f"), "Zg==");
  EXPECT_STR(base64_encode("fo"), "Zm8=");
  EXPECT_STR(base64_encode("foo"), "Zm9v");
  EXPECT_STR(base64_encode(std::string("\x60\x82\xff\x00", 4)), "YIL/AA==");
  std::string out;
  cr_assert(base64_decode("  Zm9vYg==\r\n", out));
  EXPECT_STR(out, "foob");
  cr_assert(base64_decode("YIL/AA==", out));
  EXPECT_STR(out, std::string("\x60\x82\xff\x00", 4));
  cr_assert(base64_decode("Zm8", out)); // unpadded is tolerated
  EXPECT_STR(out, "fo");
  cr_assert_not(base64_decode("Zm9v!A==", out));
  cr_assert_not(base64_decode("Zm 9v", out));
  cr_assert_not(base64_decode("Zm9vY", out));
  cr_assert_not(base64_decode("Zg===", out));
  cr_assert_not(base64_decode("Z=g=", out));
  cr_assert_not(base64_decode("Zh==", out)); // non-zero trailing bits
  const std::string all = sample_plaintext(1000);
  cr_assert(base64_decode(base64_encode(all), out));
  cr_assert(out == all);
}

Test(helpers, identity_names)
{
  auto names = kerberos_identity_names("WIN10$@CORP.EXAMPLE");
  cr_assert_eq(names.size(), 2u);
  EXPECT_STR(names[0], "WIN10$@CORP.EXAMPLE");
  EXPECT_STR(names[1], "win10.corp.example");
  // Users and services name no host: a glob without '@' ("srv*", "a*") never admits them.
  names = kerberos_identity_names("alice@CORP.EXAMPLE");
  cr_assert_eq(names.size(), 1u);
  EXPECT_STR(names[0], "alice@CORP.EXAMPLE");
  cr_assert_eq(kerberos_identity_names("HTTP/srv01.corp.example@CORP.EXAMPLE").size(), 1u);
}
