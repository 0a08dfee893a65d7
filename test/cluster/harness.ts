/**
 * A real 3-node hapair cluster for tests: fw1 and fw2 (data) and wit
 * (witness) as agent processes (`node --import tsx src/cli/main.ts agent
 * --config FILE`) on 127.0.0.1 with kernel-chosen free ports, the `sim`
 * network driver, a temporary directory holding the node configs, the data
 * directories and a tokens file with one token per role (only hashes in the
 * file). Everything waits by bounded polling, never by a fixed sleep, and
 * t.teardown stops every process by its PID and removes the directory.
 *
 * Each start-up costs a few seconds of CPU, so a test file starts one
 * cluster and runs its subtests against it in order. Start it inside a
 * t.test(), not on the root tap object: the root's teardown runs only once
 * the event loop is empty, which the live agents' pipes never let happen.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { StatusView } from '../../src/api/schemas.js';
import { freePort } from '../../src/util/free-port.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_MAIN = join(ROOT, 'src/cli/main.ts');

export type NodeName = 'fw1' | 'fw2' | 'wit';
export const NODE_NAMES: readonly NodeName[] = ['fw1', 'fw2', 'wit'];
export const DATA_NODES: readonly NodeName[] = ['fw1', 'fw2'];

export type TokenRole = 'viewer' | 'operator' | 'admin';
/** Name of each role's token in the tokens file: the audit log shows it as the actor. */
export const TOKEN_NAMES: Readonly<Record<TokenRole, string>> = { viewer: 'watcher', operator: 'oncall', admin: 'ops' };

/**
 * Cluster settings the harness applies after start: fw1 preferred, quick
 * automatic failback. Flap damping counts every move (switchovers and
 * maintenance too) and nothing in the API clears it yet, so a test that
 * moves the role often raises its limit.
 */
export const BASE_SETTINGS = {
  vips: [{ address: '192.0.2.1/24', interface: 'lan' }],
  preferred: 'fw1',
  failback: { auto: true, holdDownMs: 300 },
  timers: { heartbeatMs: 100, electionTimeoutMs: 1000 },
  monitors: [],
  flapDamping: { maxMoves: 100, windowMs: 600_000 },
} as const;

/** Bound on every wait: generous, because two cores are shared with other test processes. */
export const WAIT_MS = 30_000;
const POLL_MS = 50;
const LOG_CHUNKS = 200;
const STOP_GRACE_MS = 5_000;

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface AgentProcess {
  readonly id: NodeName;
  readonly kind: 'data' | 'witness';
  readonly peerPort: number;
  readonly apiPort: number;
  readonly configFile: string;
  readonly url: string;
  child: ChildProcess | null;
  /** The last chunks of stdout and stderr (bounded). */
  log: string[];
  /** Set while a test has stopped or killed the node on purpose. */
  down: boolean;
}

export interface CallInit {
  /** A role's token, `{ raw }` for a literal one, or null for none. Default: admin. */
  readonly token?: TokenRole | { readonly raw: string } | null;
  readonly json?: unknown;
  readonly body?: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export interface CallResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON when it is JSON, else undefined. */
  readonly body: Record<string, unknown> | undefined;
}

export interface SseEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

export class TestCluster {
  readonly tokens: Readonly<Record<TokenRole, string>>;
  private readonly nodes: ReadonlyMap<NodeName, AgentProcess>;

  constructor(
    readonly dir: string,
    readonly name: string,
    nodes: readonly AgentProcess[],
    tokens: Readonly<Record<TokenRole, string>>,
  ) {
    this.nodes = new Map(nodes.map((n) => [n.id, n]));
    this.tokens = tokens;
  }

  /** Writes a node's config again (its agent reads it at its next start). */
  writeConfig(id: NodeName, shape: ConfigShape): void {
    const n = this.node(id);
    writeFileSync(n.configFile, nodeConfigYaml(n, [...this.nodes.values()], this.dir, this.name, shape));
  }

  /** Peer address of a node, as its config says. */
  peer(id: NodeName): string {
    return `127.0.0.1:${this.node(id).peerPort}`;
  }

  /** host:port of a node's API. */
  api(id: NodeName): string {
    return `127.0.0.1:${this.node(id).apiPort}`;
  }

  node(id: NodeName): AgentProcess {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  url(id: NodeName): string {
    return this.node(id).url;
  }

  pid(id: NodeName): number | null {
    return this.node(id).child?.pid ?? null;
  }

  running(): NodeName[] {
    return NODE_NAMES.filter((id) => !this.node(id).down);
  }

  /** Starts (or restarts) a node's agent from its config file; its data directory is kept. */
  start(id: NodeName): void {
    const n = this.node(id);
    if (n.child !== null && n.child.exitCode === null && n.child.signalCode === null) {
      throw new Error(`${id} is already running (pid ${n.child.pid ?? '?'})`);
    }
    n.log = [];
    n.down = false;
    const child = spawn(process.execPath, ['--import', 'tsx', CLI_MAIN, 'agent', '--config', n.configFile], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const keep = (chunk: Buffer): void => {
      n.log.push(chunk.toString());
      if (n.log.length > LOG_CHUNKS) n.log.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    n.child = child;
    LIVE_CHILDREN.add(child);
    child.once('exit', () => LIVE_CHILDREN.delete(child));
  }

  /** SIGKILL by PID: the agent gets no chance to release anything (a crash). Resolves once it has exited. */
  async kill(id: NodeName): Promise<void> {
    const n = this.node(id);
    n.down = true;
    const child = n.child;
    if (child === null || hasExited(child)) return;
    child.kill('SIGKILL');
    await exitOf(child);
  }

  /** SIGSTOP by PID: the agent freezes, sockets open, as a hung process does. */
  pause(id: NodeName): void {
    const child = this.node(id).child;
    if (child !== null && !hasExited(child)) child.kill('SIGSTOP');
  }

  /** SIGCONT by PID. */
  resume(id: NodeName): void {
    const child = this.node(id).child;
    if (child !== null && !hasExited(child)) child.kill('SIGCONT');
  }

  /**
   * SIGTERM by PID (a clean stop), then SIGKILL if it is still running after
   * STOP_GRACE_MS. Returns how it ended.
   */
  async stop(id: NodeName): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const n = this.node(id);
    n.down = true;
    const child = n.child;
    if (child === null) return { code: null, signal: null };
    if (hasExited(child)) return { code: child.exitCode, signal: child.signalCode };
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    const result = await exitOf(child);
    clearTimeout(timer);
    return result;
  }

  async restart(id: NodeName): Promise<void> {
    await this.stop(id);
    this.start(id);
  }

  logs(id: NodeName): string {
    return this.node(id).log.join('');
  }

  /** One HTTP request to a node's API. Never throws for an HTTP status; throws when the node cannot be reached. */
  async call(id: NodeName, method: string, path: string, init: CallInit = {}): Promise<CallResult> {
    const headers: Record<string, string> = { ...init.headers };
    const token = init.token === undefined ? 'admin' : init.token;
    if (token !== null) headers['authorization'] = `Bearer ${typeof token === 'string' ? this.tokens[token] : token.raw}`;
    let body: string | Buffer | undefined = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${this.url(id)}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(init.timeoutMs ?? WAIT_MS),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> | undefined;
    if ((res.headers.get('content-type') ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = undefined;
      }
    }
    return { status: res.status, headers: res.headers, text, body: parsed };
  }

  async status(id: NodeName, query = ''): Promise<StatusView> {
    const r = await this.call(id, 'GET', `/v1/status${query}`, { token: 'viewer', timeoutMs: 5_000 });
    if (r.status !== 200) throw new Error(`GET /v1/status on ${id}: HTTP ${r.status} ${r.text}`);
    return r.body as unknown as StatusView;
  }

  /**
   * Polls `probe` until it returns a value other than null/false, at most
   * `timeoutMs`. Fails early, with the node's log, when a node that should
   * run has exited. Errors thrown by the probe count as "not yet".
   */
  async waitFor<T>(what: string, probe: () => Promise<T | null | false>, timeoutMs = WAIT_MS, seen?: () => string): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    let lastError = '';
    while (performance.now() < deadline) {
      for (const n of this.nodes.values()) {
        if (!n.down && n.child !== null && hasExited(n.child)) {
          throw new Error(`${n.id} exited unexpectedly (code ${n.child.exitCode}, signal ${n.child.signalCode}) while waiting until ${what}:\n${this.logs(n.id).slice(-3000)}`);
        }
      }
      try {
        const got = await probe();
        if (got !== null && got !== false) return got;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const last = seen?.() ?? '';
    throw new Error(
      `timed out after ${timeoutMs} ms waiting until ${what}${lastError === '' ? '' : ` (last error: ${lastError})`}${last === '' ? '' : `; last seen: ${last}`}`,
    );
  }

  /** Every running node names the same leader; returns it. */
  async waitForLeader(): Promise<NodeName> {
    return this.waitFor('the running nodes agree on a leader', async () => {
      const statuses = await Promise.all(this.running().map((id) => this.status(id)));
      const leader = statuses[0]?.leader ?? null;
      if (leader === null || !statuses.every((s) => s.leader === leader)) return null;
      return leader as NodeName;
    });
  }

  /**
   * `node` holds the active role: the lease names it on every running node
   * and `node` itself reports role active (it holds the VIPs). Returns the
   * status as `node` reports it.
   */
  async waitForActive(node: NodeName, timeoutMs = WAIT_MS): Promise<StatusView> {
    let last: StatusView[] = [];
    return this.waitFor(
      `${node} is active`,
      async () => {
        const statuses = await Promise.all(this.running().map((id) => this.status(id)));
        last = statuses;
        if (!statuses.every((s) => s.active?.node === node)) return null;
        const own = statuses.find((s) => s.node === node);
        return own !== undefined && own.members.find((m) => m.id === node)?.role === 'active' ? own : null;
      },
      timeoutMs,
      () => last.map(summarize).join(' | '),
    );
  }

  /** A running node other than `leader` (a data node when `kind` is 'data'). */
  followerOf(leader: NodeName, kind: 'data' | 'any' = 'any'): NodeName {
    const pick = this.running().find((id) => id !== leader && (kind === 'any' || this.node(id).kind === 'data'));
    if (pick === undefined) throw new Error(`no running node other than ${leader}`);
    return pick;
  }

  /**
   * PUT /v1/config without If-Match, retried while the cluster is still electing; then waits until every running
   * node has applied it (followers apply a commit up to a tick later). Returns the new revision.
   */
  async applySettings(settings: unknown, via: NodeName = 'fw1'): Promise<number> {
    const revision = await this.waitFor('the settings are committed', async () => {
      const r = await this.call(via, 'PUT', '/v1/config', { json: settings, timeoutMs: 10_000 });
      if (r.status === 400) throw new Error(`settings refused: ${r.text}`);
      return r.status === 200 ? (r.body?.['revision'] as number) : null;
    });
    await this.waitFor(`every running node has applied settings revision ${revision}`, async () => {
      const statuses = await Promise.all(this.running().map((id) => this.status(id)));
      return statuses.every((s) => s.configRevision >= revision) ? true : null;
    });
    return revision;
  }

  /** Opens GET /v1/events on a node and collects the events as they arrive. */
  async events(id: NodeName, token: TokenRole = 'viewer'): Promise<EventStream> {
    const abort = new AbortController();
    const res = await fetch(`${this.url(id)}/v1/events`, {
      headers: { authorization: `Bearer ${this.tokens[token]}`, accept: 'text/event-stream' },
      signal: abort.signal,
    });
    if (res.status !== 200 || res.body === null) throw new Error(`GET /v1/events on ${id}: HTTP ${res.status}`);
    return new EventStream(res, abort);
  }

  /** Stops every agent by PID (SIGTERM, then SIGKILL after a grace) and removes the directory. */
  async close(): Promise<void> {
    await Promise.all(NODE_NAMES.map((id) => this.stop(id)));
    rmSync(this.dir, { recursive: true, force: true });
    LIVE_DIRS.delete(this.dir);
  }
}

/** A server-sent event stream read in the background; `next` waits (bounded) for a matching event. */
export class EventStream {
  readonly received: SseEvent[] = [];
  readonly contentType: string;
  private buffer = '';
  private done = false;
  private readonly reading: Promise<void>;

  constructor(
    res: Response,
    private readonly abort: AbortController,
  ) {
    this.contentType = res.headers.get('content-type') ?? '';
    const body = res.body;
    if (body === null) throw new Error('event stream without a body');
    this.reading = this.read(body.getReader()).catch(() => undefined);
  }

  private async read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      this.buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = this.buffer.indexOf('\n\n')) >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const event = parseSseBlock(block);
        if (event !== null && this.received.length < 10_000) this.received.push(event);
      }
    }
    this.done = true;
  }

  async next(what: string, match: (e: SseEvent) => boolean, timeoutMs = WAIT_MS): Promise<SseEvent> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const found = this.received.find(match);
      if (found !== undefined) return found;
      if (this.done) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    throw new Error(`no event ${what} within ${timeoutMs} ms; received: ${this.received.map((e) => e.type).join(', ')}`);
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.reading;
  }
}

/** The environment of a `hapair` child: the API of `via`, and the token of `token` (none: null). */
export function cliEnv(c: TestCluster, via: NodeName, token: TokenRole | null): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    HOME: c.dir,
    NO_COLOR: '1',
    HAPAIR_API: c.url(via),
    ...(token === null ? {} : { HAPAIR_TOKEN: c.tokens[token] }),
  };
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `hapair ARGS` as a child process (`node --import tsx src/cli/main.ts`)
 * with HAPAIR_API pointing at `via` and HAPAIR_TOKEN holding a role's token.
 */
export function runCli(c: TestCluster, args: readonly string[], opts: { via?: NodeName; token?: TokenRole | null; timeoutMs?: number } = {}): Promise<CliRun> {
  const env = cliEnv(c, opts.via ?? 'fw1', opts.token === undefined ? 'admin' : opts.token);
  // cwd is the repository, where `--import tsx` resolves; every file argument is an absolute path.
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI_MAIN, ...args], { cwd: ROOT, env, timeout: opts.timeoutMs ?? 90_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** One line about a status, for timeout messages. */
export function summarize(s: StatusView): string {
  const active = s.active === null ? 'none' : `${s.active.node}#${s.active.epoch}(${s.active.reason})`;
  const members = s.members.map((m) => `${m.id}:${m.role}${m.reachable ? '' : ',unreachable'}${m.maintenance ? ',maint' : ''},${m.health}`).join(' ');
  const conditions = s.conditions.map((c) => `${c.code}: ${c.message}`).join('; ');
  return `[${s.node}] leader ${s.leader ?? '-'} term ${s.term} active ${active} members ${members} conditions ${conditions === '' ? '-' : conditions}`;
}

function parseSseBlock(block: string): SseEvent | null {
  let type = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue; // a comment (heartbeat)
    if (line.startsWith('event:')) type = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length === 0) return null;
  return { type, data: JSON.parse(data.join('\n')) as Record<string, unknown> };
}

/**
 * Children still running and directories not yet removed: if the test
 * process exits without running its teardown (a failed start, tap giving
 * up), they are killed by PID and removed here.
 */
const LIVE_CHILDREN = new Set<ChildProcess>();
const LIVE_DIRS = new Set<string>();
process.once('exit', () => {
  for (const child of LIVE_CHILDREN) {
    if (!hasExited(child)) child.kill('SIGKILL');
  }
  for (const dir of LIVE_DIRS) rmSync(dir, { recursive: true, force: true });
});

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (hasExited(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** How a node config is written: which nodes bootstrap, whom a joining node names, its devices. */
export interface ConfigShape {
  /** network.interfaces (default `{ lan: lan0 }`). */
  readonly interfaces?: Readonly<Record<string, string>>;
  /** cluster.bootstrap lists these nodes (default: all three); ignored when `join` is given. */
  readonly bootstrap?: readonly NodeName[];
  /** cluster.join lists these nodes instead of a bootstrap (a node added to a running cluster). */
  readonly join?: readonly NodeName[];
  readonly snapshotEveryEntries?: number;
}

export function nodeConfigYaml(
  n: Pick<AgentProcess, 'id' | 'kind' | 'peerPort' | 'apiPort'>,
  all: ReadonlyArray<Pick<AgentProcess, 'id' | 'kind' | 'peerPort' | 'apiPort'>>,
  dir: string,
  cluster: string,
  shape: ConfigShape = {},
): string {
  const interfaces = shape.interfaces ?? { lan: 'lan0' };
  const members = (ids: readonly NodeName[] | undefined) => all.filter((m) => ids === undefined || ids.includes(m.id as NodeName));
  const seeds =
    shape.join === undefined
      ? [
          '  bootstrap:',
          ...members(shape.bootstrap).map((m) => `    - { id: ${m.id}, peer: 127.0.0.1:${m.peerPort}, api: 127.0.0.1:${m.apiPort}, kind: ${m.kind} }`),
        ]
      : ['  join:', ...members(shape.join).map((m) => `    - { id: ${m.id}, peer: 127.0.0.1:${m.peerPort} }`)];
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
    `  name: ${cluster}`,
    ...seeds,
    ...(shape.snapshotEveryEntries === undefined ? [] : ['raft:', `  snapshotEveryEntries: ${shape.snapshotEveryEntries}`]),
    'network:',
    '  driver: sim',
    `  interfaces: { ${Object.entries(interfaces).map(([k, v]) => `${k}: ${v}`).join(', ')} }`,
    'log:',
    '  level: warn',
    '',
  ].join('\n');
}

export interface StartOptions {
  /** Cluster name (cluster.name in the node configs). */
  readonly name?: string;
  /** Settings applied once a leader exists, then wait for `activeAfterStart`; null applies none. */
  readonly settings?: unknown;
  /** The node expected to hold the role once the settings are in (default: the settings' preferred node). */
  readonly activeAfterStart?: NodeName | null;
  /** network.interfaces per node (default `{ lan: lan0 }`): a carrier monitor reads the device mapped here. */
  readonly interfaces?: Partial<Record<NodeName, Readonly<Record<string, string>>>>;
  /** The nodes of cluster.bootstrap (default all three); the others' configs join them (cluster.join). */
  readonly bootstrap?: readonly NodeName[];
  /** The nodes started at once (default: the bootstrap nodes); the others stay down until a test starts them. */
  readonly start?: readonly NodeName[];
  /** raft.snapshotEveryEntries in every node config. */
  readonly snapshotEveryEntries?: number;
}

/**
 * Starts fw1, fw2 and wit, waits for a leader, applies the settings and
 * waits for the preferred node to be active. Registers the clean-up.
 */
export async function startCluster(t: Teardown, options: StartOptions = {}): Promise<TestCluster> {
  const name = options.name ?? 'test';
  const dir = mkdtempSync(join(tmpdir(), 'hapair-cluster-test-'));
  LIVE_DIRS.add(dir);
  const tokens: Record<TokenRole, string> = {
    viewer: randomBytes(24).toString('base64url'),
    operator: randomBytes(24).toString('base64url'),
    admin: randomBytes(24).toString('base64url'),
  };
  const tokenLines = (Object.keys(tokens) as TokenRole[]).map(
    (role) => `  - { name: ${TOKEN_NAMES[role]}, role: ${role}, sha256: "${sha256(tokens[role])}" }`,
  );
  writeFileSync(join(dir, 'tokens.yaml'), `tokens:\n${tokenLines.join('\n')}\n`, { mode: 0o600 });
  const nodes: AgentProcess[] = [];
  for (const id of NODE_NAMES) {
    const apiPort = await freePort();
    nodes.push({
      id,
      kind: id === 'wit' ? 'witness' : 'data',
      peerPort: await freePort(),
      apiPort,
      configFile: join(dir, `${id}.yaml`),
      url: `http://127.0.0.1:${apiPort}`,
      child: null,
      log: [],
      down: false,
    });
  }
  const bootstrap = options.bootstrap ?? NODE_NAMES;
  const cluster = new TestCluster(dir, name, nodes, tokens);
  t.teardown(() => cluster.close());
  for (const n of nodes) {
    const interfaces = options.interfaces?.[n.id];
    cluster.writeConfig(n.id, {
      ...(interfaces === undefined ? {} : { interfaces }),
      ...(bootstrap.includes(n.id) ? { bootstrap } : { join: bootstrap }),
      ...(options.snapshotEveryEntries === undefined ? {} : { snapshotEveryEntries: options.snapshotEveryEntries }),
    });
  }
  const start = options.start ?? bootstrap;
  for (const n of nodes) {
    if (start.includes(n.id)) cluster.start(n.id);
    else n.down = true;
  }
  await cluster.waitForLeader();
  const settings = options.settings === undefined ? BASE_SETTINGS : options.settings;
  if (settings !== null) {
    await cluster.applySettings(settings);
    const preferred = (settings as { preferred?: unknown }).preferred;
    const active = options.activeAfterStart === undefined ? (typeof preferred === 'string' ? (preferred as NodeName) : null) : options.activeAfterStart;
    if (active !== null) await cluster.waitForActive(active);
  }
  return cluster;
}
