/* Include syslog-ng 3.38 C headers from C++: no include guard on purpose (pairs with cpp-end.h).
 * glib must come first, outside extern "C"; the renames hide C++ keywords the headers use. */
#ifdef __cplusplus
#include <glib.h>
#include <gmodule.h>
#define template template_
#define new new_
#define this this_
#define protected protected_
extern "C" {
#endif
