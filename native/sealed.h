/* Sealed in-memory copies of executables (sealed.c): adds sealedCopy to berth-sys.node's exports. */
#ifndef BERTH_SEALED_H
#define BERTH_SEALED_H
#include <node_api.h>
void register_sealed(napi_env env, napi_value exports);
#endif
