// HTTP load through a published port: `concurrency` clients each send GET / on a fresh connection
// (busybox httpd closes after every answer, as HTTP/1.0 servers do) until `total` requests are done.
// Reports requests per second and the median and 99th percentile latency.
import { request, Agent } from 'node:http';

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function once(agent: Agent, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const req = request({ host, port, path: '/', agent, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - t) / 1e6) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export async function httpLoad(host: string, port: number, opts: { total?: number; concurrency?: number } = {}): Promise<LoadResult> {
  const total = opts.total ?? 3000;
  const concurrency = opts.concurrency ?? 16;
  const agent = new Agent({ keepAlive: false, maxSockets: concurrency });
  // warm-up
  for (let i = 0; i < 20; i++) await once(agent, host, port).catch(() => undefined);
  const latencies: number[] = [];
  let errors = 0;
  let started = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        try {
          latencies.push(await once(agent, host, port));
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return { rps: latencies.length / seconds, p50: pct(0.5), p99: pct(0.99), errors };
}
