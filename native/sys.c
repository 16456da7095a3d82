/*
 * berth-sys.node: the few system calls berthd needs per container that Node does not offer.
 * Each replaces a spawned util-linux program (mount, umount, unshare + ip); on this host a spawn
 * costs 5-13 ms and a container start used five of them.
 *
 *   mount(source, target, fstype, flags, data, cwd?)  mount(2); relative paths in `data` resolve
 *                                                     against `cwd` (overlay's long lowerdir lists)
 *   umount(target, flags)                              umount2(2)
 *   createNetns(path)                                  a new network namespace with lo up, pinned
 *                                                      by a bind mount on `path` (an existing file)
 *   bridgeEnsureAsync, vethAttachAsync, linkDeleteAsync  bridge networking, see netlink.c
 *   spawnAsync                                         running programs off the event loop, see spawn.c
 *   syncfsAsync(path)                                  syncfs(2) of the filesystem holding `path`
 *   sealedCopy(path)                                   a sealed memfd copy of an executable, see sealed.c
 *   startWriteback(fd)                                 sync_file_range(SYNC_FILE_RANGE_WRITE): begin writing a
 *                                                      file's dirty pages now, without waiting for them
 *   trimMemoryAsync()                                  malloc_trim(0) off the event loop, see memory.c
 *   isOpaqueDir(path)                                  whether overlayfs marked the directory opaque
 *                                                      (trusted.overlay.opaque = "y"), for a build's
 *                                                      layer tar; replaces a getfattr run
 *   markTopDir(path)                                   chattr +T: spread the subdirectories over the
 *                                                      filesystem (ext4's Orlov allocator)
 *
 * The synchronous forms block the calling thread: an unmount waits for an RCU grace period
 * (10-20 ms), so berthd uses the *Async forms, which run on libuv's thread pool and return a
 * promise. createNetns runs on one thread from start to end (it switches that thread's network
 * namespace and back). mount with a cwd is synchronous only: the cwd is process-wide.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <node_api.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "errors.h"
#include "netlink.h"
#include "spawn.h"
#include "memory.h"
#include "sealed.h"

#define MAX_ARG 8192

enum op { OP_MOUNT, OP_UMOUNT, OP_NETNS, OP_SYNCFS };

/* One call, parsed from its JS arguments; run on the calling thread or on a pool thread. */
struct work {
  enum op op;
  napi_async_work handle;
  napi_deferred deferred;
  char source[MAX_ARG], target[MAX_ARG], fstype[MAX_ARG], data[MAX_ARG], cwd[MAX_ARG];
  int has_source, has_fstype, has_data, has_cwd;
  uint32_t flags;
  /* Set by run_work on failure: what failed (for the message) and errno. */
  const char *what;
  int err;
};

/* Copies argument i as a string into buf; an absent/null/undefined argument gives "" and *present=0. */
static int get_string(napi_env env, napi_value *argv, size_t argc, size_t i, char *buf, int *present) {
  napi_valuetype t = napi_undefined;
  if (i < argc) napi_typeof(env, argv[i], &t);
  if (t != napi_string) {
    buf[0] = 0;
    if (present) *present = 0;
    return t == napi_undefined || t == napi_null ? 0 : -1;
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[i], buf, MAX_ARG, &len) != napi_ok || len >= MAX_ARG - 1) return -1;
  if (present) *present = 1;
  return 0;
}

/*
 * Parses the arguments of `op` into w; on bad arguments throws a TypeError naming `usage` and
 * returns -1. mount(source, target, fstype, flags, data, cwd?), umount(target, flags),
 * createNetns(path).
 */
static int parse_args(napi_env env, napi_callback_info info, enum op op, struct work *w, const char *usage) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  w->op = op;
  int bad = 0;
  switch (op) {
    case OP_MOUNT:
      bad = get_string(env, argv, argc, 0, w->source, &w->has_source) || get_string(env, argv, argc, 1, w->target, NULL) ||
            get_string(env, argv, argc, 2, w->fstype, &w->has_fstype) || get_string(env, argv, argc, 4, w->data, &w->has_data) ||
            get_string(env, argv, argc, 5, w->cwd, &w->has_cwd) || argc < 4 || napi_get_value_uint32(env, argv[3], &w->flags) != napi_ok;
      break;
    case OP_UMOUNT: {
      int32_t flags = 0;
      bad = get_string(env, argv, argc, 0, w->target, NULL) || w->target[0] == 0 || (argc > 1 && napi_get_value_int32(env, argv[1], &flags) != napi_ok);
      w->flags = (uint32_t)flags;
      break;
    }
    case OP_NETNS:
    case OP_SYNCFS:
      bad = get_string(env, argv, argc, 0, w->target, NULL) || w->target[0] == 0;
      break;
  }
  if (bad) napi_throw_type_error(env, NULL, usage);
  return bad ? -1 : 0;
}

static int loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int err = errno;
  close(s);
  errno = err;
  return rc;
}

static void netns_create(struct work *w) {
  int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original < 0) {
    w->what = "open /proc/thread-self/ns/net for";
    w->err = errno;
    return;
  }
  /* From here on this thread is in the new namespace until setns() below puts it back. */
  if (unshare(CLONE_NEWNET) != 0) {
    w->what = "unshare(CLONE_NEWNET) for";
    w->err = errno;
    close(original);
    return;
  }
  if (loopback_up() != 0) {
    w->what = "bring up lo in";
    w->err = errno;
  } else if (mount("/proc/thread-self/ns/net", w->target, "none", MS_BIND, NULL) != 0) {
    w->what = "bind-mount network namespace on";
    w->err = errno;
  }
  /* Never keep serving (the main thread or a pool thread) from the wrong namespace. */
  if (setns(original, CLONE_NEWNET) != 0) abort();
  close(original);
}

/* The call itself; any thread. A mount with a cwd changes the process-wide cwd: calling thread only. */
static void run_work(struct work *w) {
  switch (w->op) {
    case OP_MOUNT: {
      int saved = -1;
      if (w->has_cwd) {
        saved = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (saved < 0 || chdir(w->cwd) != 0) {
          w->what = "chdir for mount on";
          w->err = errno;
          if (saved >= 0) close(saved);
          return;
        }
      }
      if (mount(w->has_source ? w->source : NULL, w->target, w->has_fstype ? w->fstype : NULL, w->flags, w->has_data ? w->data : NULL) != 0) {
        w->what = "mount";
        w->err = errno;
      }
      if (saved >= 0) {
        if (fchdir(saved) != 0) abort(); /* the daemon's cwd must never stay elsewhere */
        close(saved);
      }
      break;
    }
    case OP_UMOUNT:
      if (umount2(w->target, (int)w->flags) != 0) {
        w->what = "umount";
        w->err = errno;
      }
      break;
    case OP_NETNS:
      netns_create(w);
      break;
    case OP_SYNCFS: {
      int fd = open(w->target, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || syncfs(fd) != 0) {
        w->what = fd < 0 ? "open" : "syncfs";
        w->err = errno;
      }
      if (fd >= 0) close(fd);
      break;
    }
  }
}

napi_value berth_errno_error(napi_env env, const char *text, int err) {
  napi_value message, error, code;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &code);
  napi_set_named_property(env, error, "errno", code);
  return error;
}

/* The JS Error for a failed call: "<what> <path>: <strerror>", with .errno. */
static napi_value errno_error(napi_env env, const struct work *w, int err) {
  char msg[MAX_ARG + 256];
  snprintf(msg, sizeof msg, "%s %s: %s", w->what ? w->what : "async call", w->target, strerror(err));
  return berth_errno_error(env, msg, err);
}

/* ---- synchronous forms: on the calling thread ---- */

static napi_value run_sync(napi_env env, napi_callback_info info, enum op op, const char *usage) {
  static struct work w; /* large buffers; the synchronous forms run on the main thread only */
  memset(&w, 0, sizeof w);
  if (parse_args(env, info, op, &w, usage) != 0) return NULL;
  run_work(&w);
  if (w.what) napi_throw(env, errno_error(env, &w, w.err));
  return NULL;
}

static napi_value js_mount(napi_env env, napi_callback_info info) {
  return run_sync(env, info, OP_MOUNT, "mount(source, target, fstype, flags, data, cwd?): bad arguments");
}

static napi_value js_umount(napi_env env, napi_callback_info info) {
  return run_sync(env, info, OP_UMOUNT, "umount(target, flags): bad arguments");
}

static napi_value js_create_netns(napi_env env, napi_callback_info info) {
  return run_sync(env, info, OP_NETNS, "createNetns(path): bad arguments");
}

/* ---- asynchronous forms: the same calls on libuv's thread pool, settled as promises ---- */

static void work_execute(napi_env env, void *data) {
  (void)env;
  run_work(data);
}

static void work_complete(napi_env env, napi_status status, void *data) {
  struct work *w = data;
  if (status == napi_ok && w->what == NULL) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, w->deferred, undef);
  } else {
    napi_reject_deferred(env, w->deferred, errno_error(env, w, w->what ? w->err : ECANCELED));
  }
  napi_delete_async_work(env, w->handle);
  free(w);
}

static napi_value run_async(napi_env env, napi_callback_info info, enum op op, const char *usage, const char *name) {
  struct work *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (parse_args(env, info, op, w, usage) != 0 || w->has_cwd) {
    if (w->has_cwd) napi_throw_type_error(env, NULL, "mountAsync takes no cwd: the cwd is process-wide");
    free(w);
    return NULL;
  }
  napi_value promise, resource_name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, work_execute, work_complete, w, &w->handle);
  napi_queue_async_work(env, w->handle);
  return promise;
}

static napi_value js_mount_async(napi_env env, napi_callback_info info) {
  return run_async(env, info, OP_MOUNT, "mountAsync(source, target, fstype, flags, data): bad arguments", "berth.mount");
}

static napi_value js_umount_async(napi_env env, napi_callback_info info) {
  return run_async(env, info, OP_UMOUNT, "umountAsync(target, flags): bad arguments", "berth.umount");
}

static napi_value js_create_netns_async(napi_env env, napi_callback_info info) {
  return run_async(env, info, OP_NETNS, "createNetnsAsync(path): bad arguments", "berth.netns");
}

static napi_value js_syncfs_async(napi_env env, napi_callback_info info) {
  return run_async(env, info, OP_SYNCFS, "syncfsAsync(path): bad arguments", "berth.syncfs");
}

/*
 * Start writeback of everything dirty in the file, without waiting for it (sync_file_range's WRITE
 * alone). A pull writes ~700 MB in a few seconds, far under the kernel's background-writeback
 * threshold, so without this every byte waited for the layer's syncfs at the end; started early,
 * the disk works while the pull goes on and the syncfs finds little left. Errors (a filesystem
 * without it) are ignored: the syncfs still makes the data durable.
 */
static napi_value js_start_writeback(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "startWriteback(fd): bad arguments");
    return NULL;
  }
  napi_value result;
  napi_get_boolean(env, sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0, &result);
  return result;
}

/*
 * markTopDir(path): sets the "top of directory hierarchy" inode flag (chattr +T) on a directory,
 * returning whether the filesystem took it. ext4's Orlov allocator then places each subdirectory
 * (one per snapshot) in a block group of its own instead of next to its siblings. It matters on
 * ext4 without a journal: there, creating an inode skips every inode freed in the last minutes
 * (one buffer lookup each), so a pull right after an rmi spent ~30% of its time walking the inodes
 * the rmi had just freed in the same group. A hint only: other filesystems refuse it (ENOTTY).
 */
static napi_value js_mark_top_dir(napi_env env, napi_callback_info info) {
  static struct work w;
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (get_string(env, argv, argc, 0, w.target, NULL) != 0 || w.target[0] == 0) {
    napi_throw_type_error(env, NULL, "markTopDir(path): bad arguments");
    return NULL;
  }
  int ok = 0;
  int fd = open(w.target, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    int flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
      flags |= FS_TOPDIR_FL;
      ok = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    }
    close(fd);
  }
  napi_get_boolean(env, ok, &result);
  return result;
}

/* A getxattr is a few microseconds: synchronous, on the calling thread. */
static napi_value js_is_opaque_dir(napi_env env, napi_callback_info info) {
  static struct work w;
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (get_string(env, argv, argc, 0, w.target, NULL) != 0 || w.target[0] == 0) {
    napi_throw_type_error(env, NULL, "isOpaqueDir(path): bad arguments");
    return NULL;
  }
  char value[8];
  ssize_t n = lgetxattr(w.target, "trusted.overlay.opaque", value, sizeof value);
  if (n < 0 && errno != ENODATA && errno != ENOTSUP) {
    w.what = "lgetxattr trusted.overlay.opaque of";
    napi_throw(env, errno_error(env, &w, errno));
    return NULL;
  }
  napi_value result;
  napi_get_boolean(env, n == 1 && value[0] == 'y', &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &fn);
  napi_set_named_property(env, exports, "mount", fn);
  napi_create_function(env, "umount", NAPI_AUTO_LENGTH, js_umount, NULL, &fn);
  napi_set_named_property(env, exports, "umount", fn);
  napi_create_function(env, "createNetns", NAPI_AUTO_LENGTH, js_create_netns, NULL, &fn);
  napi_set_named_property(env, exports, "createNetns", fn);
  napi_create_function(env, "mountAsync", NAPI_AUTO_LENGTH, js_mount_async, NULL, &fn);
  napi_set_named_property(env, exports, "mountAsync", fn);
  napi_create_function(env, "umountAsync", NAPI_AUTO_LENGTH, js_umount_async, NULL, &fn);
  napi_set_named_property(env, exports, "umountAsync", fn);
  napi_create_function(env, "createNetnsAsync", NAPI_AUTO_LENGTH, js_create_netns_async, NULL, &fn);
  napi_set_named_property(env, exports, "createNetnsAsync", fn);
  register_netlink(env, exports);
  register_spawn(env, exports);
  register_memory(env, exports);
  register_sealed(env, exports);
  napi_create_function(env, "syncfsAsync", NAPI_AUTO_LENGTH, js_syncfs_async, NULL, &fn);
  napi_set_named_property(env, exports, "syncfsAsync", fn);
  napi_create_function(env, "startWriteback", NAPI_AUTO_LENGTH, js_start_writeback, NULL, &fn);
  napi_set_named_property(env, exports, "startWriteback", fn);
  napi_create_function(env, "isOpaqueDir", NAPI_AUTO_LENGTH, js_is_opaque_dir, NULL, &fn);
  napi_set_named_property(env, exports, "isOpaqueDir", fn);
  napi_create_function(env, "markTopDir", NAPI_AUTO_LENGTH, js_mark_top_dir, NULL, &fn);
  napi_set_named_property(env, exports, "markTopDir", fn);
  return exports;
}
