// Seed a running registry with the demo images, built from local files (no internet needed):
//   node --import tsx scripts/seed-registry.ts 127.0.0.1:PORT
// pushes library/busybox:latest and library/hello-world:latest (Docker schema2) via skopeo.
import { pushBusybox, pushHelloWorld } from '../test/fixtures/images.js';

async function main(): Promise<void> {
  const host = process.argv[2];
  if (!host || !/^[\w.-]+(:\d+)?$/.test(host)) {
    process.stderr.write('usage: node --import tsx scripts/seed-registry.ts HOST:PORT\n');
    process.exit(2);
  }
  for (const push of [pushBusybox, pushHelloWorld]) {
    const { ref, digest } = await push(host);
    process.stdout.write(`pushed ${ref}@${digest}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`seed-registry: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
