/* The JS Error every berth-sys.node call rejects or throws with: `message` and .errno (defined in sys.c). */
#ifndef BERTH_ERRORS_H
#define BERTH_ERRORS_H
#include <node_api.h>
napi_value berth_errno_error(napi_env env, const char *message, int err);
#endif
