/*
 * spawnAsync(file, args, env, opts): runs a program from a libuv pool thread with posix_spawn and
 * collects its output, so berthd's event loop never waits for a child.
 *
 * Why: Node's child_process forks the whole daemon (page tables of ~100 MB copied) and blocks the
 * event loop until the child has exec'd; per container start berthd runs conmon, `crun start` and
 * `crun delete`, and under load each spawn held the loop for 10-80 ms here. posix_spawn (vfork
 * semantics in glibc) copies nothing, and here it blocks only the pool thread.
 *
 *   file   absolute path of the program
 *   args   argv[1..] (argv[0] is file)
 *   env    ["K=V", ...] or null to inherit berthd's environment
 *   opts   { cwd?, input?: string (stdin; else /dev/null), setsid?: bool,
 *            syncPipe?: bool (a pipe on fd 3; for conmon's _OCI_SYNCPIPE), timeoutMs?: number }
 *
 * Resolves { pid, code, signal, stdout: Buffer, stderr: Buffer, sync?: Buffer }; code is -1 when
 * the child was killed by `signal`. Without syncPipe it waits for the child's exit and the end of
 * both output streams. With syncPipe (a daemonizing program such as conmon, whose daemon keeps the
 * output pipes open) it waits for the first child's exit and one line (or EOF) on the sync pipe,
 * then takes what stderr holds at that moment. Past timeoutMs the child is killed (SIGKILL) and the
 * result has timedOut: true. Every descriptor but 0-2 (and 3 with syncPipe) is closed in the child;
 * signal mask and dispositions are reset to the defaults.
 *
 * spawnPiped(file, args, env, { cwd?, stdin?: bool }) starts a program whose output streams live
 * (an exec's `crun exec`): posix_spawn on the calling thread (a vfork: microseconds, whatever the
 * daemon's size) with socket pairs for stdout and stderr, and for stdin when asked (else /dev/null).
 * Returns { pid, stdin, stdout, stderr } as descriptors (stdin -1 without one), close-on-exec,
 * for the caller to wrap as sockets. waitPid(pid) reaps it without blocking: null while it runs,
 * else { code, signal } (code -1 when killed by signal). The caller calls it on SIGCHLD, so no pool
 * thread sits in waitpid for as long as the exec lasts.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "spawn.h"

extern char **environ;

struct buf {
  char *data;
  size_t len, cap;
};

struct spawn_work {
  napi_async_work handle;
  napi_deferred deferred;
  char *file, *cwd;
  char **argv, **envp; /* NULL-terminated; envp NULL = inherit */
  struct buf input, out, err, sync;
  int has_input, setsid, sync_pipe, timed_out;
  int64_t timeout_ms;
  pid_t pid;
  int status, waited;
  int fail_errno;
  const char *fail_what;
};

static void buf_add(struct buf *b, const char *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return; /* out of memory: drop output rather than crash the daemon */
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, n);
  b->len += n;
}

/* Reads what is there; returns 1 at EOF or on error (the descriptor is then closed and set to -1). */
static int drain(int *fd, struct buf *b) {
  char chunk[16384];
  for (;;) {
    ssize_t n = read(*fd, chunk, sizeof chunk);
    if (n > 0) {
      buf_add(b, chunk, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    close(*fd);
    *fd = -1;
    return 1;
  }
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int reap(struct spawn_work *w, int options) {
  if (w->waited) return 1;
  for (;;) {
    pid_t r = waitpid(w->pid, &w->status, options);
    if (r == w->pid) {
      w->waited = 1;
      return 1;
    }
    if (r < 0 && errno == EINTR) continue;
    return 0;
  }
}

/* The child starts with no signal blocked and every disposition at its default (node ignores SIGPIPE). */
static void clean_signals(posix_spawnattr_t *attr, int setsid) {
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(attr, &none);
  posix_spawnattr_setsigdefault(attr, &all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (setsid) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(attr, flags);
}

static void run_spawn(struct spawn_work *w) {
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, sync[2] = {-1, -1};
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);

  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || (w->has_input && pipe2(in, O_CLOEXEC)) || (w->sync_pipe && pipe2(sync, O_CLOEXEC))) {
    w->fail_what = "pipe";
    w->fail_errno = errno;
    goto out;
  }
  if (w->has_input) posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  /* A daemonizing child outlives our read ends: its stdout goes nowhere rather than to a dead pipe. */
  if (w->sync_pipe) posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  else posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  if (w->sync_pipe) posix_spawn_file_actions_adddup2(&fa, sync[1], 3);
  posix_spawn_file_actions_addclosefrom_np(&fa, w->sync_pipe ? 4 : 3);
  if (w->cwd) posix_spawn_file_actions_addchdir_np(&fa, w->cwd);

  clean_signals(&attr, w->setsid);

  int rc = posix_spawn(&w->pid, w->file, &fa, &attr, w->argv, w->envp ? w->envp : environ);
  if (rc != 0) {
    w->fail_what = "spawn";
    w->fail_errno = rc;
    goto out;
  }
  close(out[1]), out[1] = -1;
  close(err[1]), err[1] = -1;
  if (in[0] >= 0) close(in[0]), in[0] = -1;
  if (sync[1] >= 0) close(sync[1]), sync[1] = -1;
  if (w->sync_pipe) close(out[0]), out[0] = -1;
  else fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  if (sync[0] >= 0) fcntl(sync[0], F_SETFL, O_NONBLOCK);
  if (in[1] >= 0) fcntl(in[1], F_SETFL, O_NONBLOCK);

  size_t written = 0;
  if (in[1] >= 0 && w->input.len == 0) close(in[1]), in[1] = -1;
  int64_t deadline = w->timeout_ms > 0 ? now_ms() + w->timeout_ms : -1;
  for (;;) {
    int sync_done = sync[0] < 0 || memchr(w->sync.data ? w->sync.data : "", '\n', w->sync.len) != NULL;
    if (w->sync_pipe) {
      /* conmon: the first child's exit and its sync line; its daemon keeps stdout/stderr open. */
      if (sync_done && reap(w, WNOHANG)) break;
    } else if (out[0] < 0 && err[0] < 0) {
      break;
    }
    struct pollfd p[4];
    int n = 0;
    if (out[0] >= 0) p[n++] = (struct pollfd){.fd = out[0], .events = POLLIN};
    if (err[0] >= 0) p[n++] = (struct pollfd){.fd = err[0], .events = POLLIN};
    if (sync[0] >= 0 && !sync_done) p[n++] = (struct pollfd){.fd = sync[0], .events = POLLIN};
    if (in[1] >= 0) p[n++] = (struct pollfd){.fd = in[1], .events = POLLOUT};
    /* With a sync pipe the exit is not an fd event: look again every few ms. */
    int wait = w->sync_pipe && sync_done ? 5 : -1;
    if (deadline >= 0) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        if (!w->waited) kill(w->pid, SIGKILL); /* a reaped pid may belong to someone else by now */
        w->timed_out = 1;
        break;
      }
      if (wait < 0 || left < wait) wait = (int)left;
    }
    int r = poll(p, (nfds_t)n, wait);
    if (r < 0 && errno != EINTR) break;
    if (out[0] >= 0) drain(&out[0], &w->out);
    if (err[0] >= 0) drain(&err[0], &w->err);
    if (sync[0] >= 0 && !sync_done) drain(&sync[0], &w->sync);
    if (in[1] >= 0) {
      for (;;) {
        ssize_t k = write(in[1], w->input.data + written, w->input.len - written);
        if (k > 0) written += (size_t)k;
        if (written == w->input.len || (k < 0 && errno != EINTR && errno != EAGAIN)) {
          close(in[1]);
          in[1] = -1;
          break;
        }
        if (k < 0 && errno == EAGAIN) break;
      }
    }
  }
  /* What stderr holds now (a failing conmon's message), without waiting for its end. */
  if (err[0] >= 0) drain(&err[0], &w->err);
  reap(w, 0);
out:
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  int fds[] = {out[0], out[1], err[0], err[1], in[0], in[1], sync[0], sync[1]};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0) close(fds[i]);
}

static void free_strv(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

static void free_work(struct spawn_work *w) {
  free(w->file);
  free(w->cwd);
  free_strv(w->argv);
  free_strv(w->envp);
  free(w->input.data);
  free(w->out.data);
  free(w->err.data);
  free(w->sync.data);
  free(w);
}

static char *dup_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (strlen(s) != len) { /* an embedded NUL would silently cut an argument */
    free(s);
    return NULL;
  }
  return s;
}

/* A JS array of strings as a NULL-terminated vector, with `first` prepended when given. */
static char **string_vector(napi_env env, napi_value arr, const char *first) {
  bool is_array = false;
  napi_is_array(env, arr, &is_array);
  if (!is_array) return NULL;
  uint32_t n = 0;
  napi_get_array_length(env, arr, &n);
  size_t off = first ? 1 : 0;
  char **v = calloc(n + off + 1, sizeof *v);
  if (!v) return NULL;
  if (first && !(v[0] = strdup(first))) goto bad;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, arr, i, &e);
    if (!(v[i + off] = dup_string(env, e))) goto bad;
  }
  return v;
bad:
  free_strv(v);
  return NULL;
}

static napi_value make_buffer(napi_env env, const struct buf *b) {
  napi_value out;
  void *data;
  napi_create_buffer_copy(env, b->len, b->len ? b->data : "", &data, &out);
  return out;
}

static void spawn_execute(napi_env env, void *data) {
  (void)env;
  run_spawn(data);
}

static void spawn_complete(napi_env env, napi_status status, void *data) {
  struct spawn_work *w = data;
  if (status != napi_ok || w->fail_what) {
    int e = w->fail_what ? w->fail_errno : ECANCELED;
    char msg[4200];
    snprintf(msg, sizeof msg, "%s %s: %s", w->fail_what ? w->fail_what : "spawn", w->file, strerror(e));
    napi_reject_deferred(env, w->deferred, berth_errno_error(env, msg, e));
  } else {
    napi_value result, v;
    napi_create_object(env, &result);
    napi_create_int32(env, w->pid, &v);
    napi_set_named_property(env, result, "pid", v);
    int exited = w->waited && WIFEXITED(w->status);
    napi_create_int32(env, exited ? WEXITSTATUS(w->status) : -1, &v);
    napi_set_named_property(env, result, "code", v);
    napi_create_int32(env, w->waited && WIFSIGNALED(w->status) ? WTERMSIG(w->status) : 0, &v);
    napi_set_named_property(env, result, "signal", v);
    napi_get_boolean(env, w->timed_out, &v);
    napi_set_named_property(env, result, "timedOut", v);
    napi_set_named_property(env, result, "stdout", make_buffer(env, &w->out));
    napi_set_named_property(env, result, "stderr", make_buffer(env, &w->err));
    if (w->sync_pipe) napi_set_named_property(env, result, "sync", make_buffer(env, &w->sync));
    napi_resolve_deferred(env, w->deferred, result);
  }
  napi_delete_async_work(env, w->handle);
  free_work(w);
}

static int get_opt(napi_env env, napi_value opts, const char *name, napi_value *out) {
  bool has = false;
  if (napi_has_named_property(env, opts, name, &has) != napi_ok || !has) return 0;
  napi_get_named_property(env, opts, name, out);
  napi_valuetype t;
  napi_typeof(env, *out, &t);
  return t != napi_undefined && t != napi_null;
}

/* (file, args, env) of both calls into w: an absolute file, argv with it first, envp or NULL. */
static int parse_command(napi_env env, napi_value *argv, size_t argc, struct spawn_work *w) {
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t == napi_string) w->file = dup_string(env, argv[0]);
  if (w->file && argc >= 2) w->argv = string_vector(env, argv[1], w->file);
  if (!(w->file && w->file[0] == '/' && w->argv)) return 0;
  if (argc >= 3) {
    napi_typeof(env, argv[2], &t);
    if (t != napi_null && t != napi_undefined) return (w->envp = string_vector(env, argv[2], NULL)) != NULL;
  }
  return 1;
}

static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct spawn_work *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  napi_valuetype t = napi_undefined;
  int ok = parse_command(env, argv, argc, w);
  if (ok && argc >= 4) {
    napi_typeof(env, argv[3], &t);
    if (t == napi_object) {
      napi_value v;
      if (get_opt(env, argv[3], "cwd", &v)) ok = ok && (w->cwd = dup_string(env, v)) != NULL;
      if (get_opt(env, argv[3], "input", &v)) {
        char *s = dup_string(env, v);
        ok = ok && s != NULL;
        if (s) {
          w->has_input = 1;
          w->input.data = s;
          w->input.len = strlen(s);
        }
      }
      bool b = false;
      if (get_opt(env, argv[3], "setsid", &v)) napi_get_value_bool(env, v, &b), w->setsid = b;
      b = false;
      if (get_opt(env, argv[3], "syncPipe", &v)) napi_get_value_bool(env, v, &b), w->sync_pipe = b;
      if (get_opt(env, argv[3], "timeoutMs", &v)) napi_get_value_int64(env, v, &w->timeout_ms);
    }
  }
  if (!ok) {
    free_work(w);
    napi_throw_type_error(env, NULL, "spawnAsync(file (absolute), args[], env[] | null, { cwd?, input?, setsid?, syncPipe?, timeoutMs? }): bad arguments");
    return NULL;
  }
  napi_value promise, resource;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "berth.spawn", NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, spawn_execute, spawn_complete, w, &w->handle);
  napi_queue_async_work(env, w->handle);
  return promise;
}

/* fds[0] the parent's end, fds[1] the child's, as pipe2 orders them. */
static int stdio_pair(int fds[2]) {
  return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}

static napi_value js_spawn_piped(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct spawn_work *w = calloc(1, sizeof *w); /* for its strings only: freed before returning */
  if (!w) return NULL;
  napi_valuetype t = napi_undefined;
  int ok = parse_command(env, argv, argc, w);
  bool want_stdin = false;
  if (ok && argc >= 4) {
    napi_typeof(env, argv[3], &t);
    if (t == napi_object) {
      napi_value v;
      if (get_opt(env, argv[3], "cwd", &v)) ok = ok && (w->cwd = dup_string(env, v)) != NULL;
      if (get_opt(env, argv[3], "stdin", &v)) napi_get_value_bool(env, v, &want_stdin);
    }
  }
  if (!ok) {
    free_work(w);
    napi_throw_type_error(env, NULL, "spawnPiped(file (absolute), args[], env[] | null, { cwd?, stdin? }): bad arguments");
    return NULL;
  }
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1};
  const char *what = NULL;
  int e = 0;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  /* Socket pairs, as libuv gives child_process children: the caller's end of stdin can then be
   * shut down (EOF for the child) while the socket stays open, which a pipe cannot. */
  if (stdio_pair(out) || stdio_pair(err) || (want_stdin && stdio_pair(in))) {
    what = "socketpair";
    e = errno;
  } else {
    if (want_stdin) posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (w->cwd) posix_spawn_file_actions_addchdir_np(&fa, w->cwd);
    clean_signals(&attr, 0);
    int rc = posix_spawn(&w->pid, w->file, &fa, &attr, w->argv, w->envp ? w->envp : environ);
    if (rc != 0) what = "spawn", e = rc;
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  /* The child's ends; on failure, every end. */
  int child_ends[] = {out[1], err[1], in[0]};
  for (size_t i = 0; i < 3; i++)
    if (child_ends[i] >= 0) close(child_ends[i]);
  if (what) {
    int ours[] = {out[0], err[0], in[1]};
    for (size_t i = 0; i < 3; i++)
      if (ours[i] >= 0) close(ours[i]);
    char msg[4200];
    snprintf(msg, sizeof msg, "%s %s: %s", what, w->file, strerror(e));
    free_work(w);
    napi_throw(env, berth_errno_error(env, msg, e));
    return NULL;
  }
  napi_value result, v;
  napi_create_object(env, &result);
  napi_create_int32(env, w->pid, &v);
  napi_set_named_property(env, result, "pid", v);
  napi_create_int32(env, in[1], &v);
  napi_set_named_property(env, result, "stdin", v);
  napi_create_int32(env, out[0], &v);
  napi_set_named_property(env, result, "stdout", v);
  napi_create_int32(env, err[0], &v);
  napi_set_named_property(env, result, "stderr", v);
  free_work(w);
  return result;
}

static napi_value js_wait_pid(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t pid = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, NULL, "waitPid(pid): bad arguments");
    return NULL;
  }
  int status = 0;
  pid_t r;
  do r = waitpid(pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  napi_value result, v;
  if (r == 0) {
    napi_get_null(env, &result);
    return result;
  }
  if (r < 0) {
    char msg[64];
    snprintf(msg, sizeof msg, "waitpid %d: %s", pid, strerror(errno));
    napi_throw(env, berth_errno_error(env, msg, errno));
    return NULL;
  }
  napi_create_object(env, &result);
  napi_create_int32(env, WIFEXITED(status) ? WEXITSTATUS(status) : -1, &v);
  napi_set_named_property(env, result, "code", v);
  napi_create_int32(env, WIFSIGNALED(status) ? WTERMSIG(status) : 0, &v);
  napi_set_named_property(env, result, "signal", v);
  return result;
}

void register_spawn(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "spawnAsync", NAPI_AUTO_LENGTH, js_spawn, NULL, &fn);
  napi_set_named_property(env, exports, "spawnAsync", fn);
  napi_create_function(env, "spawnPiped", NAPI_AUTO_LENGTH, js_spawn_piped, NULL, &fn);
  napi_set_named_property(env, exports, "spawnPiped", fn);
  napi_create_function(env, "waitPid", NAPI_AUTO_LENGTH, js_wait_pid, NULL, &fn);
  napi_set_named_property(env, exports, "waitPid", fn);
}
