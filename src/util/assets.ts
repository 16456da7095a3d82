// Files shipped beside the code (assets/), found from both src/ (tsx) and dist/src/ (built).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

let repoRoot: string | undefined;

export function assetPath(...parts: string[]): string {
  if (!repoRoot) {
    let dir = import.meta.dirname;
    while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
    repoRoot = dir;
  }
  return join(repoRoot, 'assets', ...parts);
}
