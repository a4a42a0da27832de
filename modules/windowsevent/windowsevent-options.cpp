// The grammar's setters: each stores one option of the windowsevent() block.
#include "windowsevent-source.hpp"

namespace {

wec::SubscriptionConfig &current_subscription(LogDriver *d) { return driver_of(d)->options.subscriptions.back(); }

// A failed check's one-line reason becomes the grammar's error.
gboolean report(const std::string &reason, gchar **error)
{
  if (reason.empty())
    return TRUE;
  *error = g_strdup(reason.c_str());
  return FALSE;
}

} // namespace

extern "C" {

void windowsevent_sd_set_ip(LogDriver *d, const gchar *ip) { driver_of(d)->options.ip = ip; }
void windowsevent_sd_set_port(LogDriver *d, gint port) { driver_of(d)->options.port = port; }
void windowsevent_sd_set_hostname(LogDriver *d, const gchar *hostname) { driver_of(d)->options.hostname = hostname; }
void windowsevent_sd_set_prefix(LogDriver *d, const gchar *prefix) { driver_of(d)->message.prefix = prefix; }
void windowsevent_sd_set_max_connections(LogDriver *d, gint n)
{
  driver_of(d)->options.max_connections = static_cast<unsigned>(n);
}
void windowsevent_sd_set_commit_timeout(LogDriver *d, gint s)
{
  driver_of(d)->options.commit_timeout_seconds = static_cast<unsigned>(s);
}
void windowsevent_sd_set_log_always_severity(LogDriver *d, gint severity)
{
  driver_of(d)->message.log_always_severity = severity;
}
void windowsevent_sd_set_emit_bookmark_events(LogDriver *d, gboolean enabled)
{
  driver_of(d)->options.emit_bookmark_events = enabled;
}
void windowsevent_sd_set_compression(LogDriver *d, gboolean enabled) { driver_of(d)->options.compression = enabled; }
void windowsevent_sd_set_request_timeout(LogDriver *d, gint seconds)
{
  driver_of(d)->options.request_timeout_seconds = static_cast<unsigned>(seconds);
}
void windowsevent_sd_set_bookmark_expiry(LogDriver *d, gint seconds)
{
  driver_of(d)->bookmark_expiry_seconds = static_cast<unsigned>(seconds);
}
void windowsevent_sd_set_max_connections_per_ip(LogDriver *d, gint n)
{
  driver_of(d)->options.max_connections_per_ip = static_cast<unsigned>(n);
}
void windowsevent_sd_set_log_repeat_interval(LogDriver *d, gint seconds)
{
  driver_of(d)->options.log_repeat_interval_seconds = static_cast<unsigned>(seconds);
}

gboolean windowsevent_sd_set_host_from(LogDriver *d, const gchar *source)
{
  const std::string value = source;
  if (value != "event" && value != "identity")
    return FALSE;
  driver_of(d)->message.host_from_identity = value == "identity";
  return TRUE;
}

void windowsevent_sd_enable_tls(LogDriver *d) { driver_of(d)->options.tls.enabled = true; }
void windowsevent_sd_enable_kerberos(LogDriver *d) { driver_of(d)->options.kerberos.enabled = true; }
void windowsevent_sd_set_kerberos_keytab(LogDriver *d, const gchar *path)
{
  driver_of(d)->options.kerberos.keytab = path;
}
void windowsevent_sd_set_kerberos_principal(LogDriver *d, const gchar *name)
{
  driver_of(d)->options.kerberos.principal = name;
}
void windowsevent_sd_set_kerberos_port(LogDriver *d, gint port) { driver_of(d)->options.kerberos.port = port; }
void windowsevent_sd_set_tls_key_file(LogDriver *d, const gchar *path) { driver_of(d)->options.tls.key_file = path; }
void windowsevent_sd_set_tls_cert_file(LogDriver *d, const gchar *path) { driver_of(d)->options.tls.cert_file = path; }
void windowsevent_sd_set_tls_ca_file(LogDriver *d, const gchar *path) { driver_of(d)->options.tls.ca_file = path; }
void windowsevent_sd_set_tls_ca_dir(LogDriver *d, const gchar *path) { driver_of(d)->options.tls.ca_dir = path; }
void windowsevent_sd_add_tls_issuer_file(LogDriver *d, const gchar *path)
{
  driver_of(d)->options.tls.issuer_files.emplace_back(path);
}
void windowsevent_sd_set_tls_crl_file(LogDriver *d, const gchar *path) { driver_of(d)->options.tls.crl_file = path; }
void windowsevent_sd_set_tls_crl_dir(LogDriver *d, const gchar *path) { driver_of(d)->options.tls.crl_dir = path; }
void windowsevent_sd_set_tls_crl_reload_interval(LogDriver *d, gint seconds)
{
  driver_of(d)->options.tls.crl_reload_interval_seconds = static_cast<unsigned>(seconds);
}

gboolean windowsevent_sd_add_tls_issuer_thumbprints(LogDriver *d, GList *thumbprints, gchar **error)
{
  std::string reason;
  for (GList *item = thumbprints; item && reason.empty(); item = item->next)
    driver_of(d)->options.tls.add_issuer_thumbprint(static_cast<const char *>(item->data), reason);
  g_list_free_full(thumbprints, g_free);
  return report(reason, error);
}

void windowsevent_sd_begin_subscription(LogDriver *d) { driver_of(d)->options.subscriptions.emplace_back(); }

gboolean windowsevent_sd_end_subscription(LogDriver *d, gchar **error)
{
  std::string reason;
  wec::check_subscription(current_subscription(d), reason);
  return report(reason, error);
}

void windowsevent_sd_subscription_set_name(LogDriver *d, const gchar *name) { current_subscription(d).name = name; }

void windowsevent_sd_subscription_add_computers(LogDriver *d, GList *globs)
{
  for (GList *item = globs; item; item = item->next)
    current_subscription(d).computers.emplace_back(static_cast<const char *>(item->data));
  g_list_free_full(globs, g_free);
}

gboolean windowsevent_sd_subscription_set_content_format(LogDriver *d, const gchar *format)
{
  std::string reason;
  return wec::set_content_format(current_subscription(d), format, reason);
}

void windowsevent_sd_subscription_set_locale(LogDriver *d, const gchar *l) { current_subscription(d).locale = l; }
void windowsevent_sd_subscription_set_data_locale(LogDriver *d, const gchar *l)
{
  current_subscription(d).data_locale = l;
}
void windowsevent_sd_subscription_set_heartbeat(LogDriver *d, gint s)
{
  current_subscription(d).heartbeat_seconds = static_cast<unsigned>(s);
}

void windowsevent_sd_subscription_set_connection_retry(LogDriver *d, gint interval, gint count)
{
  current_subscription(d).retry_interval_seconds = static_cast<unsigned>(interval);
  current_subscription(d).retry_count = static_cast<unsigned>(count);
}

void windowsevent_sd_subscription_set_max_time(LogDriver *d, gint s)
{
  current_subscription(d).max_time_seconds = static_cast<unsigned>(s);
}
void windowsevent_sd_subscription_set_max_elements(LogDriver *d, gint n)
{
  current_subscription(d).max_elements = static_cast<unsigned>(n);
}
void windowsevent_sd_subscription_set_max_envelope_size(LogDriver *d, gint n)
{
  current_subscription(d).max_envelope_size = static_cast<unsigned long>(n);
}
void windowsevent_sd_subscription_set_read_existing_events(LogDriver *d, gboolean v)
{
  current_subscription(d).read_existing_events = v;
}
void windowsevent_sd_subscription_set_ignore_channel_error(LogDriver *d, gboolean v)
{
  current_subscription(d).ignore_channel_error = v;
}

gboolean windowsevent_sd_subscription_set_query(LogDriver *d, const gchar *query, gchar **error)
{
  std::string reason;
  wec::set_query(current_subscription(d), query, reason);
  return report(reason, error);
}

gboolean windowsevent_sd_subscription_set_query_file(LogDriver *d, const gchar *path, gchar **error)
{
  std::string reason;
  wec::set_query_file(current_subscription(d), path, reason);
  return report(reason, error);
}

gboolean windowsevent_sd_validate(LogDriver *d, gchar **error)
{
  std::string reason;
  driver_of(d)->options.validate(reason);
  return report(reason, error);
}

} // extern "C"
