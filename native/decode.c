/*
 * berth-layers.node (with filehash.c): layer decompression on libuv's pool, hashing the output.
 * gzip goes through ISA-L's igzip, zstd through libzstd.
 *
 * Inflating is most of a pull's CPU (a 170 MB / 490 MB image: ~2.3 s in node's zlib, ~0.6 s in
 * igzip, which decodes with SIMD tables). Each write() runs on a pool thread, so layers decompress
 * in parallel and the event loop only moves buffers; the SHA-256 of the output (the layer's
 * diff_id) is taken in the same pass, while the bytes are hot in cache, with node's own OpenSSL.
 *
 * gzip streams are parsed the way node's zlib reads them: concatenated members are one stream, and
 * zero bytes after a member end it (tar writers pad); anything else after a member must be another
 * valid member. zstd streams may hold several frames (and skippable ones); windows above 128 MiB
 * are refused (libzstd's default limit). A stream that stops inside a member or frame is an error.
 *
 * JS interface (see src/images/native-decompress.ts):
 *   create(kind: 'gzip' | 'zstd', hash: boolean): handle
 *   write(handle, input: Buffer, final: boolean, cb: (err: Error | null, out: Buffer[]) => void)
 *   digest(handle): string   hex SHA-256 of everything written out, after a final write
 *   release()                frees the pooled output blocks (and trims the heap)
 * One write at a time per handle (the Transform wrapping it guarantees that).
 */
#define NAPI_VERSION 8
#include <isa-l/igzip_lib.h>
#include <malloc.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "filehash.h"

/* Output blocks handed to JS as Buffers: big enough to keep calls per byte low, small enough that
 * a slow consumer holds little. */
#define OUT_BLOCK (1024 * 1024)

/* Freed output blocks are kept for the next writes: fresh memory costs a page fault per 4 KiB, and
 * on this kind of VM faulting in 500 MB took longer than inflating it. release() (called when no
 * stream has been active for a while) gives them back. */
#define POOL_MAX 32
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *pool[POOL_MAX];
static int pool_len;

static uint8_t *block_alloc(void) {
  uint8_t *p = NULL;
  pthread_mutex_lock(&pool_lock);
  if (pool_len > 0) p = pool[--pool_len];
  pthread_mutex_unlock(&pool_lock);
  return p ? p : malloc(OUT_BLOCK);
}

static void block_free(uint8_t *p) {
  pthread_mutex_lock(&pool_lock);
  if (pool_len < POOL_MAX) {
    pool[pool_len++] = p;
    p = NULL;
  }
  pthread_mutex_unlock(&pool_lock);
  free(p);
}

struct out_block {
  uint8_t *data;
  size_t len;
};

enum codec { CODEC_GZIP, CODEC_ZSTD };

struct decoder {
  enum codec codec;
  struct inflate_state *gz; /* gzip */
  ZSTD_DStream *zs;         /* zstd */
  int frame_done;           /* zstd: the last call ended a frame with everything flushed */
  EVP_MD_CTX *sha;
  char digest_hex[65];
  int member_done; /* gzip: the current member ended, the next byte decides what follows */
  int padding;     /* gzip: zero bytes followed a member, the rest of the stream is ignored */
  int finished;    /* a final write completed */
  int busy;
  /* The write in progress. */
  napi_async_work work;
  napi_ref self_ref, input_ref, cb_ref;
  const uint8_t *in;
  size_t in_len;
  int final;
  struct out_block *blocks;
  size_t nblocks, capblocks;
  char error[160];
};

static const char *inflate_error(int ret) {
  switch (ret) {
    case ISAL_INVALID_BLOCK: return "invalid block type";
    case ISAL_INVALID_SYMBOL: return "invalid code";
    case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER: return "incorrect header check";
    case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
    case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
    case ISAL_NEED_DICT: return "need dictionary";
    default: return "invalid gzip data";
  }
}

static void start_member(struct decoder *g) {
  isal_inflate_reset(g->gz);
  g->gz->crc_flag = ISAL_GZIP;
  g->member_done = 0;
}

static struct out_block *block_with_space(struct decoder *g) {
  if (g->nblocks > 0 && g->blocks[g->nblocks - 1].len < OUT_BLOCK) return &g->blocks[g->nblocks - 1];
  if (g->nblocks == g->capblocks) {
    size_t cap = g->capblocks ? g->capblocks * 2 : 8;
    struct out_block *b = realloc(g->blocks, cap * sizeof *b);
    if (!b) return NULL;
    g->blocks = b;
    g->capblocks = cap;
  }
  uint8_t *data = block_alloc();
  if (!data) return NULL;
  g->blocks[g->nblocks] = (struct out_block){data, 0};
  return &g->blocks[g->nblocks++];
}

/* Inflates all of the input, collecting output blocks; 0, or -1 with g->error set. */
static int gzip_step(struct decoder *g) {
  const uint8_t *pos = g->in;
  size_t left = g->in_len;
  int out_full = 0; /* the last call filled its output: it may hold more even with no input left */
  while (!g->padding) {
    if (g->member_done) {
      if (left == 0) break;
      if (*pos == 0) {
        g->padding = 1;
        break;
      }
      start_member(g);
    }
    if (left == 0 && !out_full) break;
    struct out_block *b = block_with_space(g);
    if (!b) {
      snprintf(g->error, sizeof g->error, "out of memory");
      return -1;
    }
    uint32_t in_now = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
    uint32_t out_now = (uint32_t)(OUT_BLOCK - b->len);
    g->gz->next_in = (uint8_t *)pos;
    g->gz->avail_in = in_now;
    g->gz->next_out = b->data + b->len;
    g->gz->avail_out = out_now;
    int ret = isal_inflate(g->gz);
    size_t produced = out_now - g->gz->avail_out;
    size_t consumed = in_now - g->gz->avail_in;
    if (produced > 0 && g->sha) EVP_DigestUpdate(g->sha, b->data + b->len, produced);
    b->len += produced;
    pos += consumed;
    left -= consumed;
    if (ret < 0) {
      snprintf(g->error, sizeof g->error, "%s", inflate_error(ret));
      return -1;
    }
    out_full = g->gz->avail_out == 0;
    if (g->gz->block_state == ISAL_BLOCK_FINISH) {
      g->member_done = 1;
      out_full = 0;
    } else if (!out_full && produced == 0 && consumed == 0) {
      break; /* needs more input than there is */
    }
  }
  if (g->final && !g->member_done && !g->padding) {
    snprintf(g->error, sizeof g->error, "unexpected end of file");
    return -1;
  }
  return 0;
}

/* Decompresses all of the input, collecting output blocks; 0, or -1 with g->error set. */
static int zstd_step(struct decoder *g) {
  ZSTD_inBuffer in = {g->in, g->in_len, 0};
  int out_full = 0;
  while (in.pos < in.size || out_full) {
    struct out_block *b = block_with_space(g);
    if (!b) {
      snprintf(g->error, sizeof g->error, "out of memory");
      return -1;
    }
    ZSTD_outBuffer out = {b->data + b->len, OUT_BLOCK - b->len, 0};
    size_t in_before = in.pos;
    size_t ret = ZSTD_decompressStream(g->zs, &out, &in);
    if (out.pos > 0 && g->sha) EVP_DigestUpdate(g->sha, b->data + b->len, out.pos);
    b->len += out.pos;
    if (ZSTD_isError(ret)) {
      snprintf(g->error, sizeof g->error, "%s", ZSTD_getErrorName(ret));
      return -1;
    }
    out_full = out.pos == out.size;
    if (ret == 0) {
      /* A frame ended with everything flushed. (A call after that with no input would return the
       * next frame header's size: only a call that read or wrote something starts a frame.) */
      g->frame_done = 1;
      out_full = 0;
    } else if (in.pos > in_before || out.pos > 0) {
      g->frame_done = 0;
    }
    if (!out_full && out.pos == 0 && in.pos == in_before) break;
  }
  if (g->final && !g->frame_done) {
    snprintf(g->error, sizeof g->error, "unexpected end of file");
    return -1;
  }
  return 0;
}

/* Pool thread: one write. */
static void write_execute(napi_env env, void *data) {
  (void)env;
  struct decoder *g = data;
  int r = g->codec == CODEC_GZIP ? gzip_step(g) : zstd_step(g);
  if (r == 0 && g->final && g->sha) sha256_finish_hex(g->sha, g->digest_hex);
}

static void free_block(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  block_free(data);
}

static napi_value make_error(napi_env env, const char *message) {
  napi_value msg, err;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &err);
  return err;
}

/* Main thread: hand the blocks to JS (without copying where node allows) and call back. */
static void write_complete(napi_env env, napi_status status, void *data) {
  struct decoder *g = data;
  napi_value outs, err, cb, argv[2], undefined;
  napi_get_undefined(env, &undefined);
  napi_create_array(env, &outs);
  uint32_t n = 0;
  for (size_t i = 0; i < g->nblocks; i++) {
    struct out_block *b = &g->blocks[i];
    if (b->len == 0) {
      block_free(b->data);
      continue;
    }
    napi_value buf;
    if (napi_create_external_buffer(env, b->len, b->data, free_block, NULL, &buf) != napi_ok) {
      void *copy;
      napi_create_buffer_copy(env, b->len, b->data, &copy, &buf);
      block_free(b->data);
    }
    napi_set_element(env, outs, n++, buf);
  }
  g->nblocks = 0;
  if (status != napi_ok) snprintf(g->error, sizeof g->error, "cancelled");
  if (g->error[0]) {
    err = make_error(env, g->error);
  } else {
    napi_get_null(env, &err);
    if (g->final) g->finished = 1;
  }
  argv[0] = err;
  argv[1] = outs;
  napi_get_reference_value(env, g->cb_ref, &cb);
  napi_delete_reference(env, g->cb_ref);
  napi_delete_reference(env, g->input_ref);
  napi_delete_reference(env, g->self_ref);
  napi_delete_async_work(env, g->work);
  g->busy = 0;
  napi_call_function(env, undefined, cb, 2, argv, NULL);
}

static void decoder_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct decoder *g = data;
  for (size_t i = 0; i < g->nblocks; i++) block_free(g->blocks[i].data);
  free(g->blocks);
  if (g->sha) EVP_MD_CTX_free(g->sha);
  free(g->gz);
  if (g->zs) ZSTD_freeDStream(g->zs);
  free(g);
}

static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], obj;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char kind[8] = "";
  size_t kind_len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], kind, sizeof kind, &kind_len) != napi_ok ||
      (strcmp(kind, "gzip") != 0 && strcmp(kind, "zstd") != 0)) {
    napi_throw_type_error(env, NULL, "create(kind: 'gzip' | 'zstd', hash)");
    return NULL;
  }
  bool hash = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &hash);
  struct decoder *g = calloc(1, sizeof *g);
  if (!g) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  const char *failed = NULL;
  if (strcmp(kind, "gzip") == 0) {
    g->codec = CODEC_GZIP;
    g->gz = malloc(sizeof *g->gz);
    if (g->gz) {
      isal_inflate_init(g->gz);
      start_member(g);
    } else {
      failed = "out of memory";
    }
  } else {
    g->codec = CODEC_ZSTD;
    g->zs = ZSTD_createDStream();
    if (!g->zs || ZSTD_isError(ZSTD_initDStream(g->zs))) failed = "cannot start a zstd stream";
  }
  if (!failed && hash) {
    g->sha = sha256_start();
    if (!g->sha) failed = "cannot start a SHA-256 digest";
  }
  if (failed) {
    decoder_finalize(env, g, NULL);
    napi_throw_error(env, NULL, failed);
    return NULL;
  }
  napi_create_object(env, &obj);
  napi_wrap(env, obj, g, decoder_finalize, NULL, NULL);
  return obj;
}

static struct decoder *unwrap(napi_env env, napi_value obj) {
  struct decoder *g = NULL;
  if (napi_unwrap(env, obj, (void **)&g) != napi_ok || !g) napi_throw_type_error(env, NULL, "not a decoder handle");
  return g;
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], resource;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "write(handle, input, final, cb)");
    return NULL;
  }
  struct decoder *g = unwrap(env, argv[0]);
  if (!g) return NULL;
  if (g->busy || g->finished) {
    napi_throw_error(env, NULL, g->busy ? "decoder: a write is in progress" : "decoder: stream already ended");
    return NULL;
  }
  void *in = NULL;
  size_t in_len = 0;
  if (napi_get_buffer_info(env, argv[1], &in, &in_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "decoder: input must be a Buffer");
    return NULL;
  }
  bool final = false;
  napi_get_value_bool(env, argv[2], &final);
  g->in = in;
  g->in_len = in_len;
  g->final = final;
  g->error[0] = 0;
  napi_create_reference(env, argv[0], 1, &g->self_ref);
  napi_create_reference(env, argv[1], 1, &g->input_ref);
  napi_create_reference(env, argv[3], 1, &g->cb_ref);
  napi_create_string_utf8(env, "berth.decode", NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, write_execute, write_complete, g, &g->work);
  g->busy = 1;
  napi_queue_async_work(env, g->work);
  return NULL;
}

static napi_value js_digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct decoder *g = argc > 0 ? unwrap(env, argv[0]) : NULL;
  if (!g) return NULL;
  if (!g->finished || !g->sha) {
    napi_throw_error(env, NULL, g->sha ? "decoder: digest before the stream ended" : "decoder: created without hashing");
    return NULL;
  }
  napi_create_string_utf8(env, g->digest_hex, 64, &out);
  return out;
}

static napi_value js_release(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&pool_lock);
  int freed = pool_len;
  while (pool_len > 0) free(pool[--pool_len]);
  pthread_mutex_unlock(&pool_lock);
  /* The blocks came from the pool threads' arenas, where glibc would keep them mapped: give the
   * pages back now that pulls are quiet (berthd's trim after API activity has already run). */
  if (freed > 0) malloc_trim(0);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "create", NAPI_AUTO_LENGTH, js_create, NULL, &fn);
  napi_set_named_property(env, exports, "create", fn);
  napi_create_function(env, "write", NAPI_AUTO_LENGTH, js_write, NULL, &fn);
  napi_set_named_property(env, exports, "write", fn);
  napi_create_function(env, "digest", NAPI_AUTO_LENGTH, js_digest, NULL, &fn);
  napi_set_named_property(env, exports, "digest", fn);
  napi_create_function(env, "release", NAPI_AUTO_LENGTH, js_release, NULL, &fn);
  napi_set_named_property(env, exports, "release", fn);
  register_filehash(env, exports);
  return exports;
}
