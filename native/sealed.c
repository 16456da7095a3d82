/*
 * sealedCopy(path): a memfd holding a copy of the executable at `path`, sealed against any change
 * (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE). Returns the descriptor.
 *
 * Why: crun protects itself against CVE-2019-5736 (a container overwriting the runtime binary
 * through /proc/self/exe) by copying itself into a fresh memfd and re-executing from it at every
 * start of every subcommand, unless /proc/self/exe already is a fully sealed memfd: ~13 ms per
 * call here, and a container's start calls crun two or three times, an exec once. berthd makes
 * the sealed copy once and executes it as /proc/<berthd>/fd/<n>: the same protection (nothing can
 * write to a sealed memfd), paid once. runc's memfd-bind tool does the same for runc.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "sealed.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#define ALL_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static napi_value js_sealed_copy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[4096];
  size_t len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len == 0 || len >= sizeof path - 1 || path[0] != '/') {
    napi_throw_type_error(env, NULL, "sealedCopy(path (absolute)): bad arguments");
    return NULL;
  }
  const char *what = "open";
  int src = -1, mem = -1, err = 0;
  struct stat st;
  if ((src = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(src, &st) != 0) goto fail;
  what = "memfd_create for";
  /* MFD_EXEC: kernels since 6.3 may default memfds to noexec; older ones refuse the flag. */
  mem = memfd_create("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (mem < 0 && errno == EINVAL) mem = memfd_create("berth-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mem < 0) goto fail;
  what = "copy";
  for (off_t done = 0; done < st.st_size;) {
    ssize_t n = sendfile(mem, src, &done, (size_t)(st.st_size - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO; /* the file shrank under us */
      goto fail;
    }
  }
  what = "seal the copy of";
  if (fchmod(mem, 0555) != 0 || fcntl(mem, F_ADD_SEALS, ALL_SEALS) != 0) goto fail;
  close(src);
  napi_value result;
  napi_create_int32(env, mem, &result);
  return result;
fail:
  err = errno;
  if (src >= 0) close(src);
  if (mem >= 0) close(mem);
  char msg[4200];
  snprintf(msg, sizeof msg, "%s %s: %s", what, path, strerror(err));
  napi_throw(env, berth_errno_error(env, msg, err));
  return NULL;
}

void register_sealed(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sealedCopy", NAPI_AUTO_LENGTH, js_sealed_copy, NULL, &fn);
  napi_set_named_property(env, exports, "sealedCopy", fn);
}
