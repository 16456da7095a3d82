// Bytes of the regular files under a directory, symlinks not followed (docker's SizeRw and a
// volume's UsageData.Size count the same way).
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';

export async function treeSize(dir: string): Promise<number> {
  let total = 0;
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const p = join(dir, name);
    const st = await fsp.lstat(p).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) total += await treeSize(p);
    else if (st.isFile()) total += st.size;
  }
  return total;
}
