/** A 3-node hapair cluster (2 data nodes and a witness) as real agent processes on loopback. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, start, stop, waitForPort, type Started } from './proc.js';

/** The built CLI, as operators run it (the bench builds first). */
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'src', 'cli', 'main.js');

export interface HapairCluster {
  readonly token: string;
  readonly apiUrls: readonly string[];
  pids(): number[];
  leaderApiUrl(): Promise<string>;
  /** Checks that every node applied exactly the notes 0..n-1 the client was told were committed. */
  verifyAcknowledged(n: number): Promise<void>;
  close(): Promise<void>;
}

/** The note text the bench client sends as proposal i (64 bytes). */
export function benchNote(i: number): string {
  return `${String(i).padStart(9, '0')}${'x'.repeat(55)}`;
}

export function expectedNotesXor(n: number): string {
  const xor = Buffer.alloc(32);
  for (let i = 0; i < n; i++) {
    const d = createHash('sha256').update(benchNote(i)).digest();
    for (let j = 0; j < 32; j++) xor[j] = (xor[j] ?? 0) ^ (d[j] ?? 0);
  }
  return xor.toString('hex');
}

/** Extra Node options for the agents, e.g. BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile them. */
function nodeArgs(): string[] {
  return (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
}

export async function startHapair(): Promise<HapairCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'hapair-bench-'));
  const token = randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'tokens.yaml'), `tokens:\n  - { name: bench, role: admin, sha256: "${createHash('sha256').update(token).digest('hex')}" }\n`);
  const specs = [
    { id: 'fw1', kind: 'data' },
    { id: 'fw2', kind: 'data' },
    { id: 'wit', kind: 'witness' },
  ];
  const nodes = await Promise.all(specs.map(async (s) => ({ ...s, peer: await freePort(), api: await freePort() })));
  const bootstrap = nodes.map((n) => `    - { id: ${n.id}, peer: 127.0.0.1:${n.peer}, api: 127.0.0.1:${n.api}, kind: ${n.kind} }`).join('\n');
  const processes: Started[] = [];
  for (const n of nodes) {
    const file = join(dir, `${n.id}.yaml`);
    writeFileSync(
      file,
      [
        `node: { id: ${n.id}, kind: ${n.kind}, dataDir: ${join(dir, n.id)} }`,
        `peer: { listen: 127.0.0.1:${n.peer} }`,
        `api: { listen: 127.0.0.1:${n.api}, tokensFile: ${join(dir, 'tokens.yaml')} }`,
        'cluster:',
        '  name: bench',
        '  bootstrap:',
        bootstrap,
        'network: { driver: sim }',
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    processes.push(start(`hapair ${n.id}`, process.execPath, [...nodeArgs(), CLI, 'agent', '--config', file]));
  }
  const apiUrls = nodes.map((n) => `http://127.0.0.1:${n.api}`);
  const headers = { authorization: `Bearer ${token}` };
  const close = async (): Promise<void> => {
    await Promise.all(processes.map((p) => stop(p)));
    rmSync(dir, { recursive: true, force: true });
  };
  const leaderApiUrl = async (): Promise<string> => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      for (const url of apiUrls) {
        try {
          const res = await fetch(`${url}/v1/status`, { headers });
          const body = (await res.json()) as { leader?: string | null };
          const i = nodes.findIndex((n) => n.id === body.leader);
          if (i >= 0 && nodes[i]?.kind === 'data') return apiUrls[i] as string;
        } catch {
          // not up yet
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('hapair elected no data-node leader within 20 s');
  };
  try {
    await Promise.all(nodes.map((n, i) => waitForPort('127.0.0.1', n.api, 20_000, processes[i] as Started)));
    await leaderApiUrl();
  } catch (error) {
    await close();
    throw error;
  }
  return {
    token,
    apiUrls,
    pids: () => processes.map((p) => p.child.pid ?? 0),
    leaderApiUrl,
    async verifyAcknowledged(n: number): Promise<void> {
      const want = expectedNotesXor(n);
      for (const url of apiUrls) {
        const deadline = Date.now() + 10_000;
        let got: { count: number; xor: string } = { count: -1, xor: '' };
        while (Date.now() < deadline) {
          got = (await (await fetch(`${url}/v1/notes`, { headers })).json()) as { count: number; xor: string };
          if (got.count >= n) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        if (got.count !== n || got.xor !== want) {
          throw new Error(`${url} applied ${got.count} notes (checksum ${got.xor}); the client was told ${n} were committed (checksum ${want})`);
        }
      }
    },
    close,
  };
}
