/*
 * Bridge networking by rtnetlink, in-process: what the CNI bridge plugin did per container as a
 * Go program exec'd 3-4 times (10-40 ms each on this host), done here in well under a millisecond.
 *
 *   bridgeEnsureAsync(name, address, prefixLen, mtu)   the bridge device with the gateway address, up
 *   vethAttachAsync(hostIf, bridge, netnsPath, ifName, mac, address, prefixLen, gateway|null, mtu)
 *       a veth pair: `hostIf` enslaved to `bridge` (hairpin on, up), its peer created directly in
 *       the namespace pinned at `netnsPath` as `ifName` with `mac`, the address and, with a
 *       gateway, the default route
 *   linkDeleteAsync(name)                               deletes a link of the host namespace
 *
 * Every call runs on libuv's thread pool and returns a promise; a failure rejects with an Error
 * whose message names the step and whose .errno is the kernel's errno. vethAttach switches its pool
 * thread into the container's namespace for the inside steps and always switches it back.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <node_api.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errors.h"
#include "netlink.h"

#define NAME_MAX_LEN 64
#define PATH_LEN 4096

enum nl_op { NL_BRIDGE, NL_VETH, NL_DELETE };

struct nl_work {
  enum nl_op op;
  napi_async_work handle;
  napi_deferred deferred;
  char name[NAME_MAX_LEN], bridge[NAME_MAX_LEN], ifname[NAME_MAX_LEN], mac[NAME_MAX_LEN];
  char address[NAME_MAX_LEN], gateway[NAME_MAX_LEN], netns[PATH_LEN];
  uint32_t prefix, mtu;
  int has_gateway;
  /* On failure: the step that failed and errno. */
  char what[PATH_LEN + 160];
  int err;
};

/* ---- message building ---- */

struct nl_msg {
  struct nlmsghdr h;
  char buf[2048];
};

static void nl_init(struct nl_msg *m, int type, int flags, const void *body, size_t len) {
  memset(m, 0, sizeof *m);
  m->h.nlmsg_len = NLMSG_LENGTH(len);
  m->h.nlmsg_type = type;
  m->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  memcpy(NLMSG_DATA(&m->h), body, len);
}

static struct rtattr *nl_attr(struct nl_msg *m, int type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)((char *)&m->h + NLMSG_ALIGN(m->h.nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  m->h.nlmsg_len = NLMSG_ALIGN(m->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

static struct rtattr *nl_nest(struct nl_msg *m, int type) { return nl_attr(m, type, NULL, 0); }

static void nl_nest_end(struct nl_msg *m, struct rtattr *nest) {
  nest->rta_len = (unsigned short)((char *)&m->h + m->h.nlmsg_len - (char *)nest);
}

static void nl_raw(struct nl_msg *m, const void *data, size_t len) {
  memcpy((char *)&m->h + NLMSG_ALIGN(m->h.nlmsg_len), data, len);
  m->h.nlmsg_len = NLMSG_ALIGN(m->h.nlmsg_len) + NLMSG_ALIGN(len);
}

static int nl_open(void) { return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }

/* Sends one request and waits for its acknowledgement; returns 0 or -errno. */
static int nl_talk(int fd, struct nl_msg *m) {
  static __thread uint32_t seq;
  m->h.nlmsg_seq = ++seq;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, &m->h, m->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
  char reply[8192];
  for (;;) {
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != m->h.nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
      if (h->nlmsg_type == NLMSG_DONE) return 0;
    }
  }
}

static int fail(struct nl_work *w, int err, const char *fmt, const char *arg) {
  snprintf(w->what, sizeof w->what, fmt, arg);
  w->err = err < 0 ? -err : err;
  return -1;
}

/* ---- the steps ---- */

static int link_up(int fd, int index) {
  struct nl_msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  nl_init(&m, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  return nl_talk(fd, &m);
}

static int addr_add(int fd, int index, const char *address, uint32_t prefix) {
  struct in_addr a;
  if (inet_pton(AF_INET, address, &a) != 1 || prefix > 32) return -EINVAL;
  struct in_addr bcast = {.s_addr = prefix == 32 ? a.s_addr : a.s_addr | htonl(0xffffffffu >> prefix)};
  struct nl_msg m;
  struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix, .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = (unsigned)index};
  nl_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  nl_attr(&m, IFA_LOCAL, &a, sizeof a);
  nl_attr(&m, IFA_ADDRESS, &a, sizeof a);
  nl_attr(&m, IFA_BROADCAST, &bcast, sizeof bcast);
  return nl_talk(fd, &m);
}

static int default_route(int fd, int index, const char *gateway) {
  struct in_addr gw;
  if (inet_pton(AF_INET, gateway, &gw) != 1) return -EINVAL;
  struct nl_msg m;
  struct rtmsg rt = {.rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST};
  nl_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt);
  nl_attr(&m, RTA_GATEWAY, &gw, sizeof gw);
  uint32_t oif = (uint32_t)index;
  nl_attr(&m, RTA_OIF, &oif, sizeof oif);
  return nl_talk(fd, &m);
}

static int parse_mac(const char *text, unsigned char mac[6]) {
  unsigned v[6];
  if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) {
    if (v[i] > 255) return -1;
    mac[i] = (unsigned char)v[i];
  }
  return 0;
}

static void bridge_ensure(struct nl_work *w) {
  int fd = nl_open();
  if (fd < 0) {
    fail(w, errno, "open a netlink socket for bridge %s", w->name);
    return;
  }
  struct nl_msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  nl_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  nl_attr(&m, IFLA_IFNAME, w->name, strlen(w->name) + 1);
  if (w->mtu) nl_attr(&m, IFLA_MTU, &w->mtu, sizeof w->mtu);
  struct rtattr *info = nl_nest(&m, IFLA_LINKINFO);
  nl_attr(&m, IFLA_INFO_KIND, "bridge", 6);
  nl_nest_end(&m, info);
  int rc = nl_talk(fd, &m);
  int index = 0;
  if (rc != 0 && rc != -EEXIST) {
    fail(w, rc, "create bridge %s", w->name);
  } else if ((index = (int)if_nametoindex(w->name)) == 0) {
    fail(w, errno, "find bridge %s", w->name);
  } else if ((rc = addr_add(fd, index, w->address, w->prefix)) != 0 && rc != -EEXIST) {
    fail(w, rc, "add the gateway address to bridge %s", w->name);
  } else if ((rc = link_up(fd, index)) != 0) {
    fail(w, rc, "bring up bridge %s", w->name);
  }
  close(fd);
}

/* Hairpin mode on the bridge port: a container reaches itself through its own published port. */
static int hairpin_on(const char *port) {
  char path[128];
  snprintf(path, sizeof path, "/sys/class/net/%s/brport/hairpin_mode", port);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = write(fd, "1", 1) == 1 ? 0 : -errno;
  close(fd);
  return rc;
}

/* The inside steps, on a thread already switched into the container's namespace. */
static void veth_inside(struct nl_work *w) {
  int fd = nl_open();
  if (fd < 0) {
    fail(w, errno, "open a netlink socket in %s", w->netns);
    return;
  }
  int index = (int)if_nametoindex(w->ifname);
  int rc;
  if (index == 0) {
    fail(w, errno, "find %s in the container's namespace", w->ifname);
  } else if ((rc = addr_add(fd, index, w->address, w->prefix)) != 0) {
    fail(w, rc, "add address %s in the container's namespace", w->address);
  } else if ((rc = link_up(fd, index)) != 0) {
    fail(w, rc, "bring up %s in the container's namespace", w->ifname);
  } else if (w->has_gateway && (rc = default_route(fd, index, w->gateway)) != 0) {
    fail(w, rc, "add the default route via %s in the container's namespace", w->gateway);
  }
  close(fd);
}

static void veth_attach(struct nl_work *w) {
  unsigned char mac[6];
  if (parse_mac(w->mac, mac) != 0) {
    fail(w, EINVAL, "parse MAC address %s", w->mac);
    return;
  }
  int bridge = (int)if_nametoindex(w->bridge);
  if (bridge == 0) {
    fail(w, errno, "find bridge %s", w->bridge);
    return;
  }
  int ns = open(w->netns, O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    fail(w, errno, "open network namespace %s", w->netns);
    return;
  }
  int fd = nl_open();
  if (fd < 0) {
    fail(w, errno, "open a netlink socket for %s", w->name);
    close(ns);
    return;
  }
  struct nl_msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  nl_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  nl_attr(&m, IFLA_IFNAME, w->name, strlen(w->name) + 1);
  if (w->mtu) nl_attr(&m, IFLA_MTU, &w->mtu, sizeof w->mtu);
  struct rtattr *info = nl_nest(&m, IFLA_LINKINFO);
  nl_attr(&m, IFLA_INFO_KIND, "veth", 4);
  struct rtattr *data = nl_nest(&m, IFLA_INFO_DATA);
  struct rtattr *peer = nl_nest(&m, VETH_INFO_PEER);
  struct ifinfomsg peer_ifi = {.ifi_family = AF_UNSPEC};
  nl_raw(&m, &peer_ifi, sizeof peer_ifi);
  nl_attr(&m, IFLA_IFNAME, w->ifname, strlen(w->ifname) + 1);
  nl_attr(&m, IFLA_ADDRESS, mac, sizeof mac);
  if (w->mtu) nl_attr(&m, IFLA_MTU, &w->mtu, sizeof w->mtu);
  uint32_t nsfd = (uint32_t)ns;
  nl_attr(&m, IFLA_NET_NS_FD, &nsfd, sizeof nsfd);
  nl_nest_end(&m, peer);
  nl_nest_end(&m, data);
  nl_nest_end(&m, info);
  uint32_t master = (uint32_t)bridge;
  nl_attr(&m, IFLA_MASTER, &master, sizeof master);
  int rc = nl_talk(fd, &m);
  close(fd);
  if (rc != 0) {
    fail(w, rc, "create veth pair %s", w->name);
    close(ns);
    return;
  }
  if ((rc = hairpin_on(w->name)) != 0) {
    fail(w, rc, "turn on hairpin mode on %s", w->name);
    close(ns);
    return;
  }
  int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original < 0) {
    fail(w, errno, "open /proc/thread-self/ns/net to enter %s", w->netns);
  } else if (setns(ns, CLONE_NEWNET) != 0) {
    fail(w, errno, "enter network namespace %s", w->netns);
  } else {
    veth_inside(w);
    /* Never keep serving (a pool thread) from the container's namespace. */
    if (setns(original, CLONE_NEWNET) != 0) abort();
  }
  if (original >= 0) close(original);
  close(ns);
}

static void link_delete(struct nl_work *w) {
  int fd = nl_open();
  if (fd < 0) {
    fail(w, errno, "open a netlink socket to delete %s", w->name);
    return;
  }
  struct nl_msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  nl_init(&m, RTM_DELLINK, 0, &ifi, sizeof ifi);
  nl_attr(&m, IFLA_IFNAME, w->name, strlen(w->name) + 1);
  int rc = nl_talk(fd, &m);
  if (rc != 0) fail(w, rc, "delete link %s", w->name);
  close(fd);
}

/* ---- Node-API plumbing ---- */

/* A string argument into buf (shorter than `limit` bytes); null/undefined only where `present` is asked for. */
static int get_str_max(napi_env env, napi_value v, char *buf, size_t size, size_t limit, int *present) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (present) *present = t == napi_string;
  if (t != napi_string) {
    buf[0] = 0;
    return present && (t == napi_null || t == napi_undefined) ? 0 : -1;
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok || len >= size - 1 || len >= limit || len == 0) return -1;
  return 0;
}

#define get_str(env, v, buf, size, present) get_str_max(env, v, buf, size, size, present)
/* An interface name: at most IFNAMSIZ-1 bytes. */
#define get_ifname(env, v, buf) get_str_max(env, v, buf, sizeof(buf), IFNAMSIZ, NULL)

static int get_u32(napi_env env, napi_value v, uint32_t *out) { return napi_get_value_uint32(env, v, out) == napi_ok ? 0 : -1; }

static void nl_execute(napi_env env, void *data) {
  (void)env;
  struct nl_work *w = data;
  switch (w->op) {
    case NL_BRIDGE: bridge_ensure(w); break;
    case NL_VETH: veth_attach(w); break;
    case NL_DELETE: link_delete(w); break;
  }
}

static void nl_complete(napi_env env, napi_status status, void *data) {
  struct nl_work *w = data;
  if (status == napi_ok && w->what[0] == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, w->deferred, undef);
  } else {
    int err = w->what[0] ? w->err : ECANCELED;
    char msg[sizeof w->what + 128];
    snprintf(msg, sizeof msg, "%s: %s", w->what[0] ? w->what : "netlink call", strerror(err));
    napi_reject_deferred(env, w->deferred, berth_errno_error(env, msg, err));
  }
  napi_delete_async_work(env, w->handle);
  free(w);
}

static napi_value queue(napi_env env, struct nl_work *w, const char *name) {
  napi_value promise, resource;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, nl_execute, nl_complete, w, &w->handle);
  napi_queue_async_work(env, w->handle);
  return promise;
}

static napi_value bad_args(napi_env env, struct nl_work *w, const char *usage) {
  free(w);
  napi_throw_type_error(env, NULL, usage);
  return NULL;
}

static napi_value js_bridge_ensure(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct nl_work *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->op = NL_BRIDGE;
  if (argc < 4 || get_ifname(env, argv[0], w->name) || get_str(env, argv[1], w->address, sizeof w->address, NULL) ||
      get_u32(env, argv[2], &w->prefix) || get_u32(env, argv[3], &w->mtu)) {
    return bad_args(env, w, "bridgeEnsureAsync(name, address, prefixLen, mtu): bad arguments");
  }
  return queue(env, w, "berth.bridgeEnsure");
}

static napi_value js_veth_attach(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct nl_work *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->op = NL_VETH;
  if (argc < 9 || get_ifname(env, argv[0], w->name) || get_ifname(env, argv[1], w->bridge) ||
      get_str(env, argv[2], w->netns, sizeof w->netns, NULL) || get_ifname(env, argv[3], w->ifname) ||
      get_str(env, argv[4], w->mac, sizeof w->mac, NULL) || get_str(env, argv[5], w->address, sizeof w->address, NULL) ||
      get_u32(env, argv[6], &w->prefix) || get_str(env, argv[7], w->gateway, sizeof w->gateway, &w->has_gateway) ||
      get_u32(env, argv[8], &w->mtu)) {
    return bad_args(env, w, "vethAttachAsync(hostIf, bridge, netnsPath, ifName, mac, address, prefixLen, gateway, mtu): bad arguments");
  }
  return queue(env, w, "berth.vethAttach");
}

static napi_value js_link_delete(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct nl_work *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->op = NL_DELETE;
  if (argc < 1 || get_ifname(env, argv[0], w->name)) return bad_args(env, w, "linkDeleteAsync(name): bad arguments");
  return queue(env, w, "berth.linkDelete");
}

void register_netlink(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "bridgeEnsureAsync", NAPI_AUTO_LENGTH, js_bridge_ensure, NULL, &fn);
  napi_set_named_property(env, exports, "bridgeEnsureAsync", fn);
  napi_create_function(env, "vethAttachAsync", NAPI_AUTO_LENGTH, js_veth_attach, NULL, &fn);
  napi_set_named_property(env, exports, "vethAttachAsync", fn);
  napi_create_function(env, "linkDeleteAsync", NAPI_AUTO_LENGTH, js_link_delete, NULL, &fn);
  napi_set_named_property(env, exports, "linkDeleteAsync", fn);
}
