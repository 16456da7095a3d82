#!/usr/bin/env node
// Builds berth's one native helper (native/legacy-cgroups.c → dist/native/berth-legacy-cgroups)
// with the system C compiler; skipped when the binary is newer than its source.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const source = join(root, 'native', 'legacy-cgroups.c');
const target = join(root, 'dist', 'native', 'berth-legacy-cgroups');

if (existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs) process.exit(0);
mkdirSync(dirname(target), { recursive: true });
const cc = process.env.CC ?? 'cc';
const r = spawnSync(cc, ['-O2', '-Wall', '-Werror', '-o', target, source], { stdio: 'inherit' });
if (r.error) {
  console.error(`build-native: cannot run ${cc} (${r.error.message}); install gcc (scripts/install-deps.sh does)`);
  process.exit(1);
}
process.exit(r.status ?? 1);
