/*
 * C facade of the windowsevent() source: what the grammar calls. The driver is C++ behind it.
 * Functions returning gboolean report failure with a g_strdup'd message in *error.
 */
#ifndef WINDOWSEVENT_H_INCLUDED
#define WINDOWSEVENT_H_INCLUDED

#include "syslog-ng.h"
#include "driver.h"

#ifdef __cplusplus
extern "C" {
#endif

LogDriver *windowsevent_sd_new(GlobalConfig *cfg);

void windowsevent_sd_set_ip(LogDriver *d, const gchar *ip);
void windowsevent_sd_set_port(LogDriver *d, gint port);
void windowsevent_sd_set_hostname(LogDriver *d, const gchar *hostname);
void windowsevent_sd_set_prefix(LogDriver *d, const gchar *prefix);
void windowsevent_sd_set_max_connections(LogDriver *d, gint max_connections);
void windowsevent_sd_set_commit_timeout(LogDriver *d, gint seconds);
void windowsevent_sd_set_log_always_severity(LogDriver *d, gint severity);
void windowsevent_sd_set_emit_bookmark_events(LogDriver *d, gboolean enabled);
void windowsevent_sd_set_compression(LogDriver *d, gboolean enabled);
void windowsevent_sd_set_request_timeout(LogDriver *d, gint seconds);
void windowsevent_sd_set_bookmark_expiry(LogDriver *d, gint seconds);
void windowsevent_sd_set_max_connections_per_ip(LogDriver *d, gint count);
void windowsevent_sd_set_log_repeat_interval(LogDriver *d, gint seconds);
gboolean windowsevent_sd_set_host_from(LogDriver *d, const gchar *source);
void windowsevent_sd_set_proxy_protocol(LogDriver *d, gboolean enabled);
/* Takes the list; an entry that is not an address or network (CIDR) fails. */
gboolean windowsevent_sd_add_proxy_from(LogDriver *d, GList *addresses, gchar **error);

void windowsevent_sd_enable_tls(LogDriver *d);
void windowsevent_sd_set_tls_key_file(LogDriver *d, const gchar *path);
void windowsevent_sd_set_tls_cert_file(LogDriver *d, const gchar *path);
void windowsevent_sd_set_tls_ca_file(LogDriver *d, const gchar *path);
void windowsevent_sd_set_tls_ca_dir(LogDriver *d, const gchar *path);
/* Takes the list; a thumbprint that is not 40 hex digits (spaces and colons allowed) fails. */
gboolean windowsevent_sd_add_tls_issuer_thumbprints(LogDriver *d, GList *thumbprints, gchar **error);
void windowsevent_sd_add_tls_issuer_file(LogDriver *d, const gchar *path);
void windowsevent_sd_set_tls_crl_file(LogDriver *d, const gchar *path);
void windowsevent_sd_set_tls_crl_dir(LogDriver *d, const gchar *path);
void windowsevent_sd_set_tls_crl_reload_interval(LogDriver *d, gint seconds);
void windowsevent_sd_set_tls_proxy_protocol(LogDriver *d, gboolean enabled);

void windowsevent_sd_enable_kerberos(LogDriver *d);
void windowsevent_sd_set_kerberos_keytab(LogDriver *d, const gchar *path);
void windowsevent_sd_set_kerberos_principal(LogDriver *d, const gchar *name);
void windowsevent_sd_set_kerberos_port(LogDriver *d, gint port);
void windowsevent_sd_set_kerberos_proxy_protocol(LogDriver *d, gboolean enabled);

/* bookmarks(redis(...)); end_redis checks the block as a whole. */
void windowsevent_sd_enable_redis(LogDriver *d);
void windowsevent_sd_set_redis_host(LogDriver *d, const gchar *host);
void windowsevent_sd_set_redis_port(LogDriver *d, gint port);
gboolean windowsevent_sd_add_redis_sentinels(LogDriver *d, GList *addresses, gchar **error);
void windowsevent_sd_set_redis_master_name(LogDriver *d, const gchar *name);
void windowsevent_sd_set_redis_username(LogDriver *d, const gchar *username);
void windowsevent_sd_set_redis_password(LogDriver *d, const gchar *password);
void windowsevent_sd_set_redis_database(LogDriver *d, gint database);
void windowsevent_sd_set_redis_key_prefix(LogDriver *d, const gchar *prefix);
void windowsevent_sd_set_redis_timeout(LogDriver *d, gdouble seconds);
void windowsevent_sd_enable_redis_tls(LogDriver *d);
void windowsevent_sd_set_redis_tls_ca_file(LogDriver *d, const gchar *path);
void windowsevent_sd_set_redis_tls_cert_file(LogDriver *d, const gchar *path);
void windowsevent_sd_set_redis_tls_key_file(LogDriver *d, const gchar *path);
gboolean windowsevent_sd_end_redis(LogDriver *d, gchar **error);

void windowsevent_sd_begin_subscription(LogDriver *d);
gboolean windowsevent_sd_end_subscription(LogDriver *d, gchar **error);
void windowsevent_sd_subscription_set_name(LogDriver *d, const gchar *name);
void windowsevent_sd_subscription_add_computers(LogDriver *d, GList *globs);
gboolean windowsevent_sd_subscription_set_content_format(LogDriver *d, const gchar *format);
void windowsevent_sd_subscription_set_locale(LogDriver *d, const gchar *locale);
void windowsevent_sd_subscription_set_data_locale(LogDriver *d, const gchar *locale);
void windowsevent_sd_subscription_set_heartbeat(LogDriver *d, gint seconds);
void windowsevent_sd_subscription_set_connection_retry(LogDriver *d, gint interval_seconds, gint count);
void windowsevent_sd_subscription_set_max_time(LogDriver *d, gint seconds);
void windowsevent_sd_subscription_set_max_elements(LogDriver *d, gint count);
void windowsevent_sd_subscription_set_max_envelope_size(LogDriver *d, gint bytes);
void windowsevent_sd_subscription_set_read_existing_events(LogDriver *d, gboolean enabled);
void windowsevent_sd_subscription_set_ignore_channel_error(LogDriver *d, gboolean enabled);
gboolean windowsevent_sd_subscription_set_query(LogDriver *d, const gchar *query, gchar **error);
gboolean windowsevent_sd_subscription_set_query_file(LogDriver *d, const gchar *path, gchar **error);

/* Whole-source checks at the end of windowsevent(...): listener, subscriptions, duplicates. */
gboolean windowsevent_sd_validate(LogDriver *d, gchar **error);

#ifdef __cplusplus
}
#endif

#endif
