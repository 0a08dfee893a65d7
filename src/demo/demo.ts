/**
 * `hapair demo`: two data nodes and a witness as real agent processes on
 * loopback with the `sim` network driver, in a temporary directory. Shows
 * status, kills the active, measures the failover, restarts it, shows the
 * failback, then removes everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { freePort } from '../util/free-port.js';

interface DemoNode {
  readonly id: string;
  readonly kind: 'data' | 'witness';
  readonly peerPort: number;
  readonly apiPort: number;
  readonly configFile: string;
  process: ChildProcess | null;
  log: string[];
}

interface StatusView {
  readonly leader: string | null;
  readonly term: number;
  readonly active: { readonly node: string; readonly epoch: number; readonly reason: string } | null;
  readonly members: ReadonlyArray<{
    readonly id: string;
    readonly kind: string;
    readonly role: string;
    readonly reachable: boolean;
    readonly health: string;
    readonly appliedIndex: number;
  }>;
  readonly conditions: ReadonlyArray<{ readonly code: string; readonly severity: string; readonly message: string }>;
}

/** The agent runs from the same tree as the demo: built JavaScript, or TypeScript through tsx in tests. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const CLI = fileURLToPath(new URL(FROM_SOURCE ? '../cli/main.ts' : '../cli/main.js', import.meta.url));
const NODE_ARGS = FROM_SOURCE ? ['--import', 'tsx'] : [];
const STEP_TIMEOUT_MS = 20_000;

export async function runDemo(out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const started = performance.now();
  const say = (line: string): void => {
    const t = ((performance.now() - started) / 1000).toFixed(1).padStart(5);
    out.write(`[${t}s] ${line}\n`);
  };
  const dir = mkdtempSync(join(tmpdir(), 'hapair-demo-'));
  const token = randomBytes(24).toString('hex');
  const nodes: DemoNode[] = [];
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const specs = [
      { id: 'fw1', kind: 'data' as const },
      { id: 'fw2', kind: 'data' as const },
      { id: 'wit', kind: 'witness' as const },
    ];
    for (const s of specs) {
      nodes.push({ ...s, peerPort: await freePort(), apiPort: await freePort(), configFile: join(dir, `${s.id}.yaml`), process: null, log: [] });
    }
    writeFileSync(
      join(dir, 'tokens.yaml'),
      `tokens:\n  - { name: demo, role: admin, sha256: "${createHash('sha256').update(token).digest('hex')}" }\n`,
    );
    for (const n of nodes) writeFileSync(n.configFile, nodeConfig(n, nodes, dir));

    say(`starting fw1, fw2 (data) and wit (witness) on 127.0.0.1 in ${dir}`);
    for (const n of nodes) startNode(n);
    const api = (n: DemoNode): string => `http://127.0.0.1:${n.apiPort}`;
    const client = new DemoClient(token);
    const fw1 = nodes[0] as DemoNode;
    const fw2 = nodes[1] as DemoNode;

    await until('a leader is elected', () => client.status(api(fw1)).then((s) => s.leader !== null));
    say('cluster formed; applying settings: VIP 192.0.2.1/24 on lan, preferred fw1, automatic failback after 1 s');
    await client.putConfig(api(fw1), {
      vips: [{ address: '192.0.2.1/24', interface: 'lan' }],
      preferred: 'fw1',
      failback: { auto: true, holdDownMs: 1000 },
      timers: { heartbeatMs: 100, electionTimeoutMs: 1000 },
      monitors: [],
    });
    let status = await until('fw1 holds the active role', async () => {
      const s = await client.status(api(fw1));
      return s.active?.node === 'fw1' && s.members.find((m) => m.id === 'fw1')?.role === 'active' ? s : null;
    });
    printStatus(say, status);

    say('killing the active node fw1 (SIGKILL)');
    const killedAt = performance.now();
    fw1.process?.kill('SIGKILL');
    await exited(fw1);
    status = await until('fw2 takes over', async () => {
      const s = await client.status(api(fw2));
      return s.active?.node === 'fw2' && s.members.find((m) => m.id === 'fw2')?.role === 'active' ? s : null;
    }, 5);
    say(`failover: fw2 is active (epoch ${status.active?.epoch}, reason ${status.active?.reason}) ${ms(performance.now() - killedAt)} after the kill`);
    printStatus(say, status);

    say('restarting fw1');
    const restartedAt = performance.now();
    startNode(fw1);
    const failoverEpoch = status.active?.epoch ?? 0;
    status = await until('fw1 is back and the role fails back to it', async () => {
      const s = await client.status(api(fw1));
      const back = s.active?.node === 'fw1' && (s.active?.epoch ?? 0) > failoverEpoch;
      return back && s.members.find((m) => m.id === 'fw1')?.role === 'active' ? s : null;
    }, 5);
    say(`failback: fw1 is active again (epoch ${status.active?.epoch}, reason ${status.active?.reason}) ${ms(performance.now() - restartedAt)} after its restart (includes the 1 s hold-down)`);
    printStatus(say, status);
    say('demo finished; stopping the nodes and removing the temporary directory');
    return 0;

    async function until<T>(what: string, probe: () => Promise<T | null | false>, pollMs = 50): Promise<T> {
      const deadline = performance.now() + STEP_TIMEOUT_MS;
      while (performance.now() < deadline) {
        if (interrupted) throw new Error('interrupted');
        for (const n of nodes) {
          if (n.process !== null && n.process.exitCode !== null) {
            throw new Error(`${n.id} exited unexpectedly (code ${n.process.exitCode}):\n${n.log.join('').slice(-1500)}`);
          }
        }
        const got = await probe().catch(() => null);
        if (got !== null && got !== false) return got;
        await new Promise((r) => setTimeout(r, pollMs));
      }
      throw new Error(`timed out waiting until ${what}`);
    }
  } catch (error) {
    out.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await Promise.all(nodes.map(stopNode));
    rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function nodeConfig(n: DemoNode, all: readonly DemoNode[], dir: string): string {
  const bootstrap = all
    .map((m) => `    - { id: ${m.id}, peer: 127.0.0.1:${m.peerPort}, api: 127.0.0.1:${m.apiPort}, kind: ${m.kind} }`)
    .join('\n');
  return [
    'node:',
    `  id: ${n.id}`,
    `  kind: ${n.kind}`,
    `  dataDir: ${join(dir, n.id)}`,
    'peer:',
    `  listen: 127.0.0.1:${n.peerPort}`,
    'api:',
    `  listen: 127.0.0.1:${n.apiPort}`,
    `  tokensFile: ${join(dir, 'tokens.yaml')}`,
    'cluster:',
    '  name: demo',
    '  bootstrap:',
    bootstrap,
    'network:',
    '  driver: sim',
    '  interfaces: { lan: lan0 }',
    'log:',
    '  level: warn',
    '',
  ].join('\n');
}

function startNode(n: DemoNode): void {
  n.log = [];
  const child = spawn(process.execPath, [...NODE_ARGS, CLI, 'agent', '--config', n.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer): void => {
    n.log.push(chunk.toString());
    if (n.log.length > 100) n.log.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  n.process = child;
}

async function exited(n: DemoNode): Promise<void> {
  const child = n.process;
  if (child === null || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/** By PID, never by name: SIGTERM, then SIGKILL if it does not stop in time. */
async function stopNode(n: DemoNode): Promise<void> {
  const child = n.process;
  if (child === null || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited(n);
  clearTimeout(timer);
}

class DemoClient {
  constructor(private readonly token: string) {}

  async status(api: string): Promise<StatusView> {
    const res = await fetch(`${api}/v1/status`, { headers: this.headers(), signal: AbortSignal.timeout(1000) });
    if (!res.ok) throw new Error(`GET /v1/status: HTTP ${res.status}`);
    return (await res.json()) as StatusView;
  }

  async putConfig(api: string, settings: unknown): Promise<void> {
    const deadline = performance.now() + STEP_TIMEOUT_MS;
    let last = '';
    while (performance.now() < deadline) {
      const res = await fetch(`${api}/v1/config`, {
        method: 'PUT',
        headers: { ...this.headers(), 'content-type': 'application/json' },
        body: JSON.stringify(settings),
        signal: AbortSignal.timeout(5000),
      }).catch((e: unknown) => e as Error);
      if (!(res instanceof Error) && res.ok) return;
      last = res instanceof Error ? res.message : `HTTP ${res.status} ${await res.text()}`;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`could not apply settings: ${last}`);
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }
}

function printStatus(say: (line: string) => void, s: StatusView): void {
  say(`  leader ${s.leader ?? '-'} (term ${s.term}); active ${s.active === null ? 'none' : `${s.active.node}, epoch ${s.active.epoch} (${s.active.reason})`}`);
  for (const m of s.members) {
    say(`    ${m.id.padEnd(4)} ${m.kind.padEnd(8)} ${m.role.padEnd(8)} ${(m.reachable ? 'reachable' : 'UNREACHABLE').padEnd(12)} ${m.health.padEnd(9)} applied ${m.appliedIndex}`);
  }
  for (const c of s.conditions) say(`    [${c.severity}] ${c.code}: ${c.message}`);
}

function ms(x: number): string {
  return `${Math.round(x)} ms`;
}
