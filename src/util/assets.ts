// Files shipped beside the code (assets/), found from both src/ (tsx) and dist/src/ (built).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

let root: string | undefined;

/** The checkout: the nearest directory above this module holding package.json. */
export function repoRoot(): string {
  if (!root) {
    let dir = import.meta.dirname;
    while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
    root = dir;
  }
  return root;
}

export function assetPath(...parts: string[]): string {
  return join(repoRoot(), 'assets', ...parts);
}

/** A native part built by `npm run build` (scripts/build-native.mjs) into dist/native. */
export function nativePath(name: string): string {
  return join(repoRoot(), 'dist', 'native', name);
}
