/* Running programs from a pool thread with posix_spawn (spawn.c): adds spawnAsync to berth-sys.node's exports. */
#ifndef BERTH_SPAWN_H
#define BERTH_SPAWN_H
#include <node_api.h>
void register_spawn(napi_env env, napi_value exports);
#endif
