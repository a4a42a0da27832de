#include "driver.h"
#include "cfg-parser.h"
#include "windowsevent-parser.h"
#include "windowsevent-grammar.h"

extern int windowsevent_debug;

int windowsevent_parse(CfgLexer *lexer, LogDriver **instance, gpointer arg);

/* Keywords are written with '_'; the lexer accepts '-' for them too. */
static CfgLexerKeyword windowsevent_keywords[] = {{"windowsevent", KW_WINDOWSEVENT},
                                                  {"ip", KW_IP},
                                                  {"port", KW_PORT},
                                                  {"hostname", KW_HOSTNAME},
                                                  {"tls", KW_TLS},
                                                  {"key_file", KW_KEY_FILE},
                                                  {"cert_file", KW_CERT_FILE},
                                                  {"ca_file", KW_CA_FILE},
                                                  {"ca_dir", KW_CA_DIR},
                                                  {"issuer_thumbprints", KW_ISSUER_THUMBPRINTS},
                                                  {"issuer_file", KW_ISSUER_FILE},
                                                  {"crl_file", KW_CRL_FILE},
                                                  {"crl_dir", KW_CRL_DIR},
                                                  {"crl_reload_interval", KW_CRL_RELOAD_INTERVAL},
                                                  {"prefix", KW_PREFIX},
                                                  {"max_connections", KW_MAX_CONNECTIONS},
                                                  {"commit_timeout", KW_COMMIT_TIMEOUT},
                                                  {"log_always_severity", KW_LOG_ALWAYS_SEVERITY},
                                                  {"subscription", KW_SUBSCRIPTION},
                                                  {"name", KW_NAME},
                                                  {"computers", KW_COMPUTERS},
                                                  {"content_format", KW_CONTENT_FORMAT},
                                                  {"locale", KW_LOCALE},
                                                  {"data_locale", KW_DATA_LOCALE},
                                                  {"heartbeat", KW_HEARTBEAT},
                                                  {"connection_retry", KW_CONNECTION_RETRY},
                                                  {"max_time", KW_MAX_TIME},
                                                  {"max_elements", KW_MAX_ELEMENTS},
                                                  {"max_envelope_size", KW_MAX_ENVELOPE_SIZE},
                                                  {"read_existing_events", KW_READ_EXISTING_EVENTS},
                                                  {"query", KW_QUERY},
                                                  {"query_file", KW_QUERY_FILE},
                                                  {"ignore_channel_error", KW_IGNORE_CHANNEL_ERROR},
                                                  {"kerberos", KW_KERBEROS},
                                                  {"emit_bookmark_events", KW_EMIT_BOOKMARK_EVENTS},
                                                  {"compression", KW_COMPRESSION},
                                                  {"request_timeout", KW_REQUEST_TIMEOUT},
                                                  {"bookmark_expiry", KW_BOOKMARK_EXPIRY},
                                                  {"max_connections_per_ip", KW_MAX_CONNECTIONS_PER_IP},
                                                  {"host_from", KW_HOST_FROM},
                                                  {"log_repeat_interval", KW_LOG_REPEAT_INTERVAL},
                                                  {"keytab", KW_KEYTAB},
                                                  {"principal", KW_PRINCIPAL},
                                                  {"proxy_protocol", KW_PROXY_PROTOCOL},
                                                  {"proxy_from", KW_PROXY_FROM},
                                                  {"bookmarks", KW_BOOKMARKS},
                                                  {"redis", KW_REDIS},
                                                  {"host", KW_HOST},
                                                  {"sentinels", KW_SENTINELS},
                                                  {"master_name", KW_MASTER_NAME},
                                                  {"username", KW_USERNAME},
                                                  {"password", KW_PASSWORD},
                                                  {"database", KW_DATABASE},
                                                  {"key_prefix", KW_KEY_PREFIX},
                                                  {"timeout", KW_TIMEOUT},
                                                  {NULL}};

CfgParser windowsevent_parser = {
#if SYSLOG_NG_ENABLE_DEBUG
    .debug_flag = &windowsevent_debug,
#endif
    .name = "windowsevent",
    .keywords = windowsevent_keywords,
    .parse = (gint(*)(CfgLexer *, gpointer *, gpointer)) windowsevent_parse,
    .cleanup = (void (*)(gpointer)) log_pipe_unref,
};

CFG_PARSER_IMPLEMENT_LEXER_BINDING(windowsevent_, windowsevent_, LogDriver **)
