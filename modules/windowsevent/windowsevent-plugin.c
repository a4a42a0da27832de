#include <gmodule.h>
#include "cfg-parser.h"
#include "plugin.h"
#include "plugin-types.h"

extern CfgParser windowsevent_parser;

static Plugin windowsevent_plugins[] = {
    {
        .type = LL_CONTEXT_SOURCE,
        .name = "windowsevent",
        .parser = &windowsevent_parser,
    },
};

G_MODULE_EXPORT gboolean windowsevent_module_init(PluginContext *context, CfgArgs *args)
{
  plugin_register(context, windowsevent_plugins, G_N_ELEMENTS(windowsevent_plugins));
  return TRUE;
}

G_MODULE_EXPORT const ModuleInfo module_info = {
    .canonical_name = "windowsevent",
    .version = SYSLOG_NG_VERSION,
    .description = "Windows Event Collector: receives Windows Event Forwarding (WS-Management) natively",
    .core_revision = SYSLOG_NG_SOURCE_REVISION,
    .plugins = windowsevent_plugins,
    .plugins_len = G_N_ELEMENTS(windowsevent_plugins),
};
