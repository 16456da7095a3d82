/* Bridge networking by rtnetlink (netlink.c): adds its functions to berth-sys.node's exports. */
#ifndef BERTH_NETLINK_H
#define BERTH_NETLINK_H
#include <node_api.h>
void register_netlink(napi_env env, napi_value exports);
#endif
