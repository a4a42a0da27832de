#include "auth/security-context.hpp"

#include "auth/encrypted-mime.hpp"
#include "auth/kerberos-diagnosis.hpp"

#include <gssapi/gssapi_ext.h>

#include <cstring>
#include <functional>
#include <utility>

namespace wec::auth::detail {

namespace {

class GssSecurityContext final : public SecurityContext
{
public:
  GssSecurityContext(GssContext ctx, AuthScheme scheme, std::string principal)
      : ctx_(std::move(ctx)), scheme_(scheme), principal_(std::move(principal))
  {}

  const std::string &client_principal() const override { return principal_; }
  AuthScheme scheme() const override { return scheme_; }

  bool unwrap(std::string_view content_type, std::string_view body, std::string &plaintext, std::string &error,
              KerberosProblem &problem) override
  {
    problem = KerberosProblem::None;
    mime::EncryptedBody parts;
    mime::ParseError kind;
    if (!mime::parse(content_type, body, parts, error, kind))
      {
        problem = KerberosProblem::MalformedToken;
        error += " (from " + principal_ + ")";
        return false;
      }
    if (parts.ciphertext.size() < parts.original_length)
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "encrypted body from " + principal_ + " is truncated: OriginalContent length " +
                std::to_string(parts.original_length) + " but only " + std::to_string(parts.ciphertext.size()) +
                " bytes of ciphertext";
        return false;
      }
    header_.assign(parts.token_header.data(), parts.token_header.size());
    plaintext.assign(parts.ciphertext.data(), parts.ciphertext.size());

    gss_iov_buffer_desc iov[2];
    iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
    iov[0].buffer.length = header_.size();
    iov[0].buffer.value = &header_[0];
    iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
    iov[1].buffer.length = plaintext.size();
    iov[1].buffer.value = plaintext.empty() ? nullptr : &plaintext[0];
    int conf_state = 0;
    gss_qop_t qop = 0;
    OM_uint32 minor = 0;
    OM_uint32 major = gss_unwrap_iov(&minor, ctx_.get(), &conf_state, &qop, iov, 2);
    if (GSS_ERROR(major))
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "encrypted body from " + principal_ + " does not decrypt or verify: " + gss_text(major, minor);
        plaintext.clear();
        return false;
      }
    // Supplementary statuses: the message verified, but is not the next one of this connection.
    const char *out_of_order = (major & GSS_S_DUPLICATE_TOKEN) ? "is a replay of an earlier message"
                               : (major & GSS_S_OLD_TOKEN)     ? "is older than messages already received"
                               : (major & GSS_S_UNSEQ_TOKEN)   ? "arrived out of sequence"
                               : (major & GSS_S_GAP_TOKEN)     ? "follows a gap: earlier messages are missing"
                                                               : nullptr;
    if (out_of_order)
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "encrypted body from " + principal_ + " " + out_of_order;
        plaintext.clear();
        return false;
      }
    if (conf_state != 1)
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "body from " + principal_ + " is signed but not encrypted: integrity-only messages are refused";
        plaintext.clear();
        return false;
      }
    std::size_t length = iov[1].buffer.length;
    if (length > plaintext.size())
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "encrypted body from " + principal_ + ": GSSAPI returned more data than it was given";
        plaintext.clear();
        return false;
      }
    if (length != 0 && iov[1].buffer.value != plaintext.data())
      std::memmove(&plaintext[0], iov[1].buffer.value, length);
    plaintext.resize(length);
    if (length != parts.original_length)
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "OriginalContent length " + std::to_string(parts.original_length) +
                " does not match the decrypted length " + std::to_string(length) + " (from " + principal_ + ")";
        plaintext.clear();
        return false;
      }
    return true;
  }

  bool wrap(std::string_view plaintext, std::string_view original_content_type, std::string &body,
            std::string &content_type, std::string &error) override
  {
    // `plaintext` may not live inside `body`, which is resized below.
    const std::less<const char *> before;
    if (!body.empty() && !plaintext.empty() && !before(plaintext.data(), body.data()) &&
        before(plaintext.data(), body.data() + body.size()))
      {
        std::string copy(plaintext);
        return wrap(copy, original_content_type, body, content_type, error);
      }
    const mime::Protocol protocol =
        scheme_ == AuthScheme::Negotiate ? mime::Protocol::Spnego : mime::Protocol::Kerberos;

    gss_iov_buffer_desc iov[3];
    iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
    iov[0].buffer = {0, nullptr};
    iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
    iov[1].buffer = {plaintext.size(), nullptr};
    iov[2].type = GSS_IOV_BUFFER_TYPE_PADDING;
    iov[2].buffer = {0, nullptr};
    OM_uint32 minor = 0;
    int conf_state = 0;
    OM_uint32 major = gss_wrap_iov_length(&minor, ctx_.get(), 1, GSS_C_QOP_DEFAULT, &conf_state, iov, 3);
    if (GSS_ERROR(major))
      {
        error = "cannot size the encrypted response for " + principal_ + ": " + gss_text(major, minor);
        return false;
      }
    const std::size_t header_length = iov[0].buffer.length;
    const std::size_t padding_length = iov[2].buffer.length;

    // One allocation: the MIME text, the plaintext at its final place, then encrypt in place.
    mime::Layout layout = mime::frame(body, protocol, original_content_type, plaintext, header_length, padding_length);
    char *base = &body[0];
    iov[0].buffer = {header_length, base + layout.header_offset};
    iov[1].buffer = {plaintext.size(), base + layout.data_offset};
    iov[2].buffer = {padding_length, base + layout.padding_offset};
    major = gss_wrap_iov(&minor, ctx_.get(), 1, GSS_C_QOP_DEFAULT, &conf_state, iov, 3);
    if (GSS_ERROR(major))
      {
        body.clear();
        error = "cannot encrypt the response for " + principal_ + ": " + gss_text(major, minor);
        return false;
      }
    if (conf_state != 1)
      {
        body.clear();
        error = "GSSAPI did not encrypt the response for " + principal_;
        return false;
      }
    if (iov[0].buffer.length != header_length || iov[1].buffer.length != plaintext.size() ||
        iov[2].buffer.length > padding_length)
      {
        body.clear();
        error = "GSSAPI wrote a token of unexpected size for " + principal_;
        return false;
      }
    mime::shrink_padding(body, layout, iov[2].buffer.length);
    content_type = mime::content_type(protocol);
    return true;
  }

private:
  GssContext ctx_;
  AuthScheme scheme_;
  std::string principal_;
  std::string header_; // writable copy of a request's token header for gss_unwrap_iov(), reused
};

} // namespace

std::unique_ptr<SecurityContext> make_security_context(GssContext context, AuthScheme scheme, std::string principal)
{
  return std::make_unique<GssSecurityContext>(std::move(context), scheme, std::move(principal));
}

} // namespace wec::auth::detail
