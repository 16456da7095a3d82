/* SHA-256 for berth-layers.node (filehash.c): sha256FileAsync on the thread pool, and the digest
 * start/finish that decode.c shares. */
#ifndef BERTH_FILEHASH_H
#define BERTH_FILEHASH_H
#include <node_api.h>
#include <openssl/evp.h>
void register_filehash(napi_env env, napi_value exports);
/* A SHA-256 context from node's OpenSSL, or NULL. */
EVP_MD_CTX *sha256_start(void);
/* Finishes `ctx` into 64 hex digits and a NUL. */
void sha256_finish_hex(EVP_MD_CTX *ctx, char hex[65]);
#endif
