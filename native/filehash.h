/* The SHA-256 of a file on the thread pool (filehash.c): adds sha256FileAsync to berth-layers.node's exports. */
#ifndef BERTH_FILEHASH_H
#define BERTH_FILEHASH_H
#include <node_api.h>
void register_filehash(napi_env env, napi_value exports);
#endif
