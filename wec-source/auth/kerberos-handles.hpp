// Owning handles for the MIT krb5 and GSSAPI objects of the Kerberos code. Internal to
// wec-source/auth.
#pragma once

#include <gssapi/gssapi.h>
#include <krb5.h>

#include <string_view>
#include <utility>

namespace wec::auth::detail {

// One library handle. Every krb5 and GSSAPI handle is a pointer whose "none" value is null
// (GSS_C_NO_NAME, GSS_C_NO_CREDENTIAL and GSS_C_NO_CONTEXT included); `Release` frees it.
template <typename T, typename Release> class Handle
{
public:
  Handle() = default;
  explicit Handle(Release release) : release_(std::move(release)) {}
  ~Handle() { reset(); }
  Handle(const Handle &) = delete;
  Handle &operator=(const Handle &) = delete;
  Handle(Handle &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)), release_(std::move(other.release_))
  {}
  Handle &operator=(Handle &&other) noexcept
  {
    if (this != &other)
      {
        reset();
        handle_ = std::exchange(other.handle_, nullptr);
        release_ = std::move(other.release_);
      }
    return *this;
  }

  T get() const { return handle_; }
  // For a library call that creates the handle: frees the current one first.
  T *out()
  {
    reset();
    return &handle_;
  }
  // For a library call that continues with the current handle (gss_accept_sec_context).
  T *inout() { return &handle_; }
  void reset()
  {
    if (handle_)
      release_(std::exchange(handle_, nullptr));
  }

private:
  T handle_ = nullptr;
  Release release_;
};

struct ReleaseGssName
{
  void operator()(gss_name_t name) const
  {
    OM_uint32 minor;
    gss_release_name(&minor, &name);
  }
};

struct ReleaseGssCred
{
  void operator()(gss_cred_id_t cred) const
  {
    OM_uint32 minor;
    gss_release_cred(&minor, &cred);
  }
};

struct DeleteGssContext
{
  void operator()(gss_ctx_id_t context) const
  {
    OM_uint32 minor;
    gss_delete_sec_context(&minor, &context, GSS_C_NO_BUFFER);
  }
};

struct FreeKrb5Context
{
  void operator()(krb5_context context) const { krb5_free_context(context); }
};

// krb5 objects are freed through the context they were made with.
struct CloseKrb5Keytab
{
  krb5_context context = nullptr;
  void operator()(krb5_keytab keytab) const { krb5_kt_close(context, keytab); }
};

struct FreeKrb5Principal
{
  krb5_context context = nullptr;
  void operator()(krb5_principal principal) const { krb5_free_principal(context, principal); }
};

using GssName = Handle<gss_name_t, ReleaseGssName>;
using GssCred = Handle<gss_cred_id_t, ReleaseGssCred>;
using GssContext = Handle<gss_ctx_id_t, DeleteGssContext>;
using Krb5Context = Handle<krb5_context, FreeKrb5Context>;
using Krb5Keytab = Handle<krb5_keytab, CloseKrb5Keytab>;
using Krb5Principal = Handle<krb5_principal, FreeKrb5Principal>;

// A buffer GSSAPI allocated and handed out (gss_release_buffer frees it). Not a pointer, so not a Handle.
class GssBuffer
{
public:
  GssBuffer() = default;
  ~GssBuffer() { reset(); }
  GssBuffer(const GssBuffer &) = delete;
  GssBuffer &operator=(const GssBuffer &) = delete;

  gss_buffer_t out()
  {
    reset();
    return &buffer_;
  }
  std::string_view view() const
  {
    return buffer_.value ? std::string_view(static_cast<const char *>(buffer_.value), buffer_.length)
                         : std::string_view();
  }
  void reset()
  {
    if (buffer_.value)
      {
        OM_uint32 minor;
        gss_release_buffer(&minor, &buffer_);
      }
    buffer_ = {0, nullptr};
  }

private:
  gss_buffer_desc buffer_{0, nullptr};
};

} // namespace wec::auth::detail
