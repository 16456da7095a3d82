#!/usr/bin/env node
// Builds berth's native parts with the system C compiler (scripts/install-deps.sh installs gcc):
//   native/legacy-cgroups.c → dist/native/berth-legacy-cgroups  (crun launcher, see runtime/runtimes.ts)
//   native/sys.c + netlink.c + spawn.c + memory.c + sealed.c → dist/native/berth-sys.node       (mount/umount/netns/bridge links, see runtime/sys.ts)
//   native/decode.c + filehash.c → dist/native/berth-layers.node  (gzip layers with ISA-L's igzip, zstd with
//     libzstd, sha256 of files, all on the pool; see util/native-layers.ts)
// The addon uses Node-API only, so it needs node's headers (shipped with node in <prefix>/include/node)
// and no node-gyp. Each target is skipped when it is newer than its source.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const out = join(root, 'dist', 'native');
mkdirSync(out, { recursive: true });
const cc = process.env.CC ?? 'cc';

function nodeHeaders() {
  const candidates = [join(dirname(dirname(process.execPath)), 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  const found = candidates.find((d) => existsSync(join(d, 'node_api.h')));
  if (!found) {
    console.error(`build-native: node_api.h not found in ${candidates.join(', ')}`);
    process.exit(1);
  }
  return found;
}

function build(sources, target, flags, libs = []) {
  const srcs = sources.map((s) => join(root, 'native', s));
  const dst = join(out, target);
  // Every header counts: the sources share some (errors.h).
  const inputs = [...srcs, ...readdirSync(join(root, 'native')).filter((f) => f.endsWith('.h')).map((f) => join(root, 'native', f))];
  if (existsSync(dst) && inputs.every((s) => statSync(dst).mtimeMs >= statSync(s).mtimeMs)) return;
  const r = spawnSync(cc, ['-O2', '-Wall', '-Werror', ...flags(), '-o', dst, ...srcs, ...libs], { stdio: 'inherit' });
  if (r.error) {
    console.error(`build-native: cannot run ${cc} (${r.error.message}); install gcc (scripts/install-deps.sh does)`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

build(['legacy-cgroups.c'], 'berth-legacy-cgroups', () => []);
build(['sys.c', 'netlink.c', 'spawn.c', 'memory.c', 'sealed.c'], 'berth-sys.node', () => ['-shared', '-fPIC', '-I', nodeHeaders()]);
// OpenSSL (for the SHA-256) is node's own: node exports its symbols to addons, so no -lcrypto.
build(['decode.c', 'filehash.c'], 'berth-layers.node', () => ['-shared', '-fPIC', '-I', nodeHeaders()], ['-lisal', '-lzstd']);
