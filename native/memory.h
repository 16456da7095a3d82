/* Returning freed heap memory to the kernel (memory.c): adds trimMemoryAsync to berth-sys.node's exports. */
#ifndef BERTH_MEMORY_H
#define BERTH_MEMORY_H
#include <node_api.h>
void register_memory(napi_env env, napi_value exports);
#endif
