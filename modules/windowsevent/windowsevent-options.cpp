// The grammar's setters: each stores one option of the windowsevent() block.
#include "windowsevent-source.hpp"

#include <cmath>

namespace {

wec::ServiceOptions &options(LogDriver *d) { return driver_of(d)->options; }
wec::module::MessageOptions &message(LogDriver *d) { return driver_of(d)->message; }
wec::SubscriptionConfig &subscription(LogDriver *d) { return options(d).subscriptions.back(); }
wec::RedisOptions &redis(LogDriver *d) { return options(d).redis; }

// Runs a check that leaves a one-line reason when it fails; the reason becomes the grammar's error.
template <typename Check> gboolean checked(gchar **error, Check check)
{
  std::string reason;
  check(reason);
  if (reason.empty())
    return TRUE;
  *error = g_strdup(reason.c_str());
  return FALSE;
}

} // namespace

extern "C" {

void windowsevent_sd_set_ip(LogDriver *d, const gchar *ip) { options(d).ip = ip; }
void windowsevent_sd_set_port(LogDriver *d, gint port) { options(d).port = port; }
void windowsevent_sd_set_hostname(LogDriver *d, const gchar *hostname) { options(d).hostname = hostname; }
void windowsevent_sd_set_prefix(LogDriver *d, const gchar *prefix) { message(d).prefix = prefix; }
void windowsevent_sd_set_max_connections(LogDriver *d, gint n) { options(d).max_connections = n; }
void windowsevent_sd_set_commit_timeout(LogDriver *d, gint s) { options(d).commit_timeout_seconds = s; }
void windowsevent_sd_set_log_always_severity(LogDriver *d, gint severity) { message(d).log_always_severity = severity; }
void windowsevent_sd_set_emit_bookmark_events(LogDriver *d, gboolean v) { options(d).emit_bookmark_events = v; }
void windowsevent_sd_set_compression(LogDriver *d, gboolean enabled) { options(d).compression = enabled; }
void windowsevent_sd_set_request_timeout(LogDriver *d, gint seconds) { options(d).request_timeout_seconds = seconds; }
void windowsevent_sd_set_bookmark_expiry(LogDriver *d, gint v) { driver_of(d)->bookmark_expiry_seconds = v; }
void windowsevent_sd_set_max_connections_per_ip(LogDriver *d, gint n) { options(d).max_connections_per_ip = n; }
void windowsevent_sd_set_log_repeat_interval(LogDriver *d, gint v) { options(d).log_repeat_interval_seconds = v; }
void windowsevent_sd_set_proxy_protocol(LogDriver *d, gboolean v) { options(d).proxy_protocol = v; }
void windowsevent_sd_set_tls_proxy_protocol(LogDriver *d, gboolean v) { options(d).tls.proxy_protocol = bool(v); }
void windowsevent_sd_set_kerberos_proxy_protocol(LogDriver *d, gboolean v)
{
  options(d).kerberos.proxy_protocol = bool(v);
}

gboolean windowsevent_sd_add_proxy_from(LogDriver *d, GList *addresses, gchar **error)
{
  const gboolean ok = checked(error, [&](std::string &reason) {
    for (GList *item = addresses; item && reason.empty(); item = item->next)
      options(d).add_proxy_from(static_cast<const char *>(item->data), reason);
  });
  g_list_free_full(addresses, g_free);
  return ok;
}

gboolean windowsevent_sd_set_host_from(LogDriver *d, const gchar *source)
{
  const std::string value = source;
  if (value != "event" && value != "identity")
    return FALSE;
  message(d).host_from_identity = value == "identity";
  return TRUE;
}

void windowsevent_sd_enable_tls(LogDriver *d) { options(d).tls.enabled = true; }
void windowsevent_sd_enable_kerberos(LogDriver *d) { options(d).kerberos.enabled = true; }
void windowsevent_sd_set_kerberos_keytab(LogDriver *d, const gchar *path) { options(d).kerberos.keytab = path; }
void windowsevent_sd_set_kerberos_principal(LogDriver *d, const gchar *name) { options(d).kerberos.principal = name; }
void windowsevent_sd_set_kerberos_port(LogDriver *d, gint port) { options(d).kerberos.port = port; }
void windowsevent_sd_set_tls_key_file(LogDriver *d, const gchar *path) { options(d).tls.key_file = path; }
void windowsevent_sd_set_tls_cert_file(LogDriver *d, const gchar *path) { options(d).tls.cert_file = path; }
void windowsevent_sd_set_tls_ca_file(LogDriver *d, const gchar *path) { options(d).tls.ca_file = path; }
void windowsevent_sd_set_tls_ca_dir(LogDriver *d, const gchar *path) { options(d).tls.ca_dir = path; }
void windowsevent_sd_add_tls_issuer_file(LogDriver *d, const gchar *v) { options(d).tls.issuer_files.emplace_back(v); }
void windowsevent_sd_set_tls_crl_file(LogDriver *d, const gchar *path) { options(d).tls.crl_file = path; }
void windowsevent_sd_set_tls_crl_dir(LogDriver *d, const gchar *path) { options(d).tls.crl_dir = path; }
void windowsevent_sd_set_tls_crl_reload_interval(LogDriver *d, gint v)
{
  options(d).tls.crl_reload_interval_seconds = v;
}

gboolean windowsevent_sd_add_tls_issuer_thumbprints(LogDriver *d, GList *thumbprints, gchar **error)
{
  const gboolean ok = checked(error, [&](std::string &reason) {
    for (GList *item = thumbprints; item && reason.empty(); item = item->next)
      options(d).tls.add_issuer_thumbprint(static_cast<const char *>(item->data), reason);
  });
  g_list_free_full(thumbprints, g_free);
  return ok;
}

void windowsevent_sd_enable_redis(LogDriver *d) { redis(d).enabled = true; }
void windowsevent_sd_set_redis_host(LogDriver *d, const gchar *host) { redis(d).host = host; }
void windowsevent_sd_set_redis_port(LogDriver *d, gint port) { redis(d).port = port; }
void windowsevent_sd_set_redis_master_name(LogDriver *d, const gchar *name) { redis(d).master_name = name; }
void windowsevent_sd_set_redis_username(LogDriver *d, const gchar *username) { redis(d).username = username; }
void windowsevent_sd_set_redis_password(LogDriver *d, const gchar *password) { redis(d).password = password; }
void windowsevent_sd_set_redis_database(LogDriver *d, gint database) { redis(d).database = database; }
void windowsevent_sd_set_redis_key_prefix(LogDriver *d, const gchar *prefix) { redis(d).key_prefix = prefix; }
void windowsevent_sd_set_redis_timeout(LogDriver *d, gdouble s)
{
  redis(d).timeout = std::chrono::milliseconds(lround(s * 1000));
}
void windowsevent_sd_enable_redis_tls(LogDriver *d) { redis(d).tls = true; }
void windowsevent_sd_set_redis_tls_ca_file(LogDriver *d, const gchar *path) { redis(d).tls_ca_file = path; }
void windowsevent_sd_set_redis_tls_cert_file(LogDriver *d, const gchar *path) { redis(d).tls_cert_file = path; }
void windowsevent_sd_set_redis_tls_key_file(LogDriver *d, const gchar *path) { redis(d).tls_key_file = path; }

gboolean windowsevent_sd_add_redis_sentinels(LogDriver *d, GList *addresses, gchar **error)
{
  const gboolean ok = checked(error, [&](std::string &reason) {
    for (GList *item = addresses; item && reason.empty(); item = item->next)
      redis(d).add_sentinel(static_cast<const char *>(item->data), reason);
  });
  g_list_free_full(addresses, g_free);
  return ok;
}

gboolean windowsevent_sd_end_redis(LogDriver *d, gchar **error)
{
  return checked(error, [&](std::string &reason) { redis(d).check(reason); });
}

void windowsevent_sd_begin_subscription(LogDriver *d) { options(d).subscriptions.emplace_back(); }

gboolean windowsevent_sd_end_subscription(LogDriver *d, gchar **error)
{
  return checked(error, [&](std::string &reason) { wec::check_subscription(subscription(d), reason); });
}

void windowsevent_sd_subscription_set_name(LogDriver *d, const gchar *name) { subscription(d).name = name; }

void windowsevent_sd_subscription_add_computers(LogDriver *d, GList *globs)
{
  for (GList *item = globs; item; item = item->next)
    subscription(d).computers.emplace_back(static_cast<const char *>(item->data));
  g_list_free_full(globs, g_free);
}

gboolean windowsevent_sd_subscription_set_content_format(LogDriver *d, const gchar *format)
{
  std::string reason;
  return wec::set_content_format(subscription(d), format, reason);
}

void windowsevent_sd_subscription_set_locale(LogDriver *d, const gchar *l) { subscription(d).locale = l; }
void windowsevent_sd_subscription_set_data_locale(LogDriver *d, const gchar *l) { subscription(d).data_locale = l; }
void windowsevent_sd_subscription_set_heartbeat(LogDriver *d, gint s) { subscription(d).heartbeat_seconds = s; }

void windowsevent_sd_subscription_set_connection_retry(LogDriver *d, gint interval, gint count)
{
  subscription(d).retry_interval_seconds = interval;
  subscription(d).retry_count = count;
}

void windowsevent_sd_subscription_set_max_time(LogDriver *d, gint s) { subscription(d).max_time_seconds = s; }
void windowsevent_sd_subscription_set_max_elements(LogDriver *d, gint n) { subscription(d).max_elements = n; }
void windowsevent_sd_subscription_set_max_envelope_size(LogDriver *d, gint n) { subscription(d).max_envelope_size = n; }
void windowsevent_sd_subscription_set_read_existing_events(LogDriver *d, gboolean v)
{
  subscription(d).read_existing_events = v;
}
void windowsevent_sd_subscription_set_ignore_channel_error(LogDriver *d, gboolean v)
{
  subscription(d).ignore_channel_error = v;
}

gboolean windowsevent_sd_subscription_set_query(LogDriver *d, const gchar *query, gchar **error)
{
  return checked(error, [&](std::string &reason) { wec::set_query(subscription(d), query, reason); });
}

gboolean windowsevent_sd_subscription_set_query_file(LogDriver *d, const gchar *path, gchar **error)
{
  return checked(error, [&](std::string &reason) { wec::set_query_file(subscription(d), path, reason); });
}

gboolean windowsevent_sd_validate(LogDriver *d, gchar **error)
{
  return checked(error, [&](std::string &reason) { options(d).validate(reason); });
}

} // extern "C"
