/*
 * sha256FileAsync(path): the SHA-256 of a file, read and hashed on a libuv pool thread with node's
 * own OpenSSL (SHA-NI where the CPU has it). A load checks every layer tar it takes in against the
 * image config's diff IDs; on the event loop that was ~0.3 s per 500 MB, twice (once while the
 * layer unpacked, once before the content store adopted the file).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filehash.h"

#define READ_BLOCK (1024 * 1024)
#define MAX_PATH_LEN 4096

struct hash_work {
  napi_async_work handle;
  napi_deferred deferred;
  char path[MAX_PATH_LEN];
  char hex[65];
  int err;
};

EVP_MD_CTX *sha256_start(void) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(ctx);
    ctx = NULL;
  }
  return ctx;
}

void sha256_finish_hex(EVP_MD_CTX *ctx, char hex[65]) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  for (unsigned int i = 0; i < len && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void hash_execute(napi_env env, void *data) {
  (void)env;
  struct hash_work *w = data;
  int fd = open(w->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    w->err = errno;
    return;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  unsigned char *buf = malloc(READ_BLOCK);
  EVP_MD_CTX *ctx = sha256_start();
  if (!buf || !ctx) {
    w->err = ENOMEM;
  } else {
    for (;;) {
      ssize_t n = read(fd, buf, READ_BLOCK);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        w->err = errno;
        break;
      }
      if (n == 0) break;
      EVP_DigestUpdate(ctx, buf, (size_t)n);
    }
    if (!w->err) sha256_finish_hex(ctx, w->hex);
  }
  if (ctx) EVP_MD_CTX_free(ctx);
  free(buf);
  close(fd);
}

static void hash_complete(napi_env env, napi_status status, void *data) {
  struct hash_work *w = data;
  if (status != napi_ok && !w->err) w->err = ECANCELED;
  if (w->err) {
    char message[MAX_PATH_LEN + 64];
    snprintf(message, sizeof message, "sha256 of %s: %s", w->path, strerror(w->err));
    napi_value msg, err, code;
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_create_int32(env, w->err, &code);
    napi_set_named_property(env, err, "errno", code);
    napi_reject_deferred(env, w->deferred, err);
  } else {
    napi_value hex;
    napi_create_string_utf8(env, w->hex, 64, &hex);
    napi_resolve_deferred(env, w->deferred, hex);
  }
  napi_delete_async_work(env, w->handle);
  free(w);
}

static napi_value js_sha256_file_async(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], promise, resource;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct hash_work *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], w->path, sizeof w->path, &len) != napi_ok || len == 0 ||
      len >= sizeof w->path - 1) {
    free(w);
    napi_throw_type_error(env, NULL, "sha256FileAsync(path): bad arguments");
    return NULL;
  }
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "berth.sha256File", NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, hash_execute, hash_complete, w, &w->handle);
  napi_queue_async_work(env, w->handle);
  return promise;
}

void register_filehash(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sha256FileAsync", NAPI_AUTO_LENGTH, js_sha256_file_async, NULL, &fn);
  napi_set_named_property(env, exports, "sha256FileAsync", fn);
}
