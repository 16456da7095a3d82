/*
 * trimMemoryAsync(): malloc_trim(0) on a pool thread, resolving to whether memory was released.
 *
 * glibc keeps what a burst frees (a pull's zlib windows and stream buffers, in one arena per pool
 * thread that touched them) mapped for reuse: after pulling a 500 MB image berthd held ~33 MiB
 * more RSS than before it, for good. malloc_trim walks every arena and gives the free pages back
 * (madvise). It takes each arena's lock in turn, so it runs off the event loop.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <malloc.h>
#include <stdlib.h>
#include "memory.h"

struct trim_work {
  napi_async_work handle;
  napi_deferred deferred;
  int released;
};

static void trim_execute(napi_env env, void *data) {
  (void)env;
  struct trim_work *w = data;
  w->released = malloc_trim(0);
}

static void trim_complete(napi_env env, napi_status status, void *data) {
  struct trim_work *w = data;
  napi_value result;
  napi_get_boolean(env, status == napi_ok && w->released != 0, &result);
  napi_resolve_deferred(env, w->deferred, result);
  napi_delete_async_work(env, w->handle);
  free(w);
}

static napi_value js_trim_memory_async(napi_env env, napi_callback_info info) {
  (void)info;
  struct trim_work *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_value promise, resource;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "berth.trimMemory", NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, trim_execute, trim_complete, w, &w->handle);
  napi_queue_async_work(env, w->handle);
  return promise;
}

void register_memory(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "trimMemoryAsync", NAPI_AUTO_LENGTH, js_trim_memory_async, NULL, &fn);
  napi_set_named_property(env, exports, "trimMemoryAsync", fn);
}
