/*
 * berth-legacy-cgroups RUNTIME [ARGS...]
 *
 * Runs an OCI runtime in a private mount namespace in which the cgroup2 mount of a hybrid host
 * (/sys/fs/cgroup/unified) is detached. crun refuses hybrid hosts whose cgroup2 hierarchy holds
 * a controller ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2");
 * without that mount it sees a plain cgroup v1 host and drives the v1 controllers as runc does.
 * Only this process's view changes: the namespace is a slave copy of the host's and goes away
 * when the runtime exits. One exec instead of unshare + sh + umount (each exec costs ~5 ms here).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define UNIFIED "/sys/fs/cgroup/unified"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s RUNTIME [ARGS...]\n", argv[0]);
    return 125;
  }
  if (unshare(CLONE_NEWNS) != 0) {
    fprintf(stderr, "berth-legacy-cgroups: unshare mount namespace: %s\n", strerror(errno));
    return 125;
  }
  /* Slave, not private: mounts the daemon makes later still propagate in; none leak out. */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) {
    fprintf(stderr, "berth-legacy-cgroups: make / a slave mount: %s\n", strerror(errno));
    return 125;
  }
  if (umount2(UNIFIED, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    fprintf(stderr, "berth-legacy-cgroups: detach %s: %s\n", UNIFIED, strerror(errno));
    return 125;
  }
  execv(argv[1], argv + 1);
  fprintf(stderr, "berth-legacy-cgroups: exec %s: %s\n", argv[1], strerror(errno));
  return 127;
}
