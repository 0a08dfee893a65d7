/**
 * The end-to-end lab: network namespaces on one bridge (itself in a
 * namespace), real `hapair agent` processes with the `linux` driver in fw1,
 * fw2 and wit (or only fw1 and fw2: `new E2eLab({ witness: false })`; or a
 * cluster formed by fw1 alone that the others join with `hapair join`:
 * `new E2eLab({ bootstrap: ['fw1'] })`, `lab.cli(...)`), a UDP
 * responder in each data node, and in the client namespace the probe and a
 * small HTTP forwarder on a Unix socket so that the test (in the root
 * namespace) can reach the agents' APIs without any interface or address in
 * the root namespace. `peek` and `peek2` are further clients that send to
 * the VIP through a MAC the caller chooses, to ask one host's kernel
 * directly whether it still answers (two of them, so that both data nodes
 * can be watched at once, as the failover bench does). `gw` stands for the
 * upstream router: it only answers pings, for the path monitors of R4.
 *
 * Each agent also gets its own view of one directory, `runDir` (a bind
 * mount in the agent's private mount namespace), as each real host has its
 * own /run: a `process` monitor's pid file, replicated as one path, then
 * names a different process on each node.
 *
 * Every name carries a random id (`hpe<id>-…`); teardown kills what it
 * started by PID and deletes the namespaces by the names it created, and a
 * synchronous fallback does the same if the process exits without it.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ProbeRow } from './probe.js';

export const HOSTS = ['fw1', 'fw2', 'wit', 'client', 'peek', 'peek2', 'gw'] as const;
export type Host = (typeof HOSTS)[number];
export type AgentId = 'fw1' | 'fw2' | 'wit';

export const ADDR: Readonly<Record<Host, string>> = {
  fw1: '10.231.0.11',
  fw2: '10.231.0.12',
  wit: '10.231.0.13',
  client: '10.231.0.21',
  peek: '10.231.0.22',
  peek2: '10.231.0.23',
  gw: '10.231.0.254',
};
export const VIP = '10.231.0.100';
export const PREFIX_LEN = 24;
const PEER_PORT = 7400;
const API_PORT = 7480;
export const ECHO_PORT = 7777;

function hostPort(id: AgentId, port: number): string {
  return `${ADDR[id]}:${port}`;
}

/** Agent `id`'s API as the CLI takes it (`--api`, `--node-api`): reachable from the client namespace. */
export function apiUrl(id: AgentId): string {
  return `http://${hostPort(id, API_PORT)}`;
}
/** The device inside each host namespace; names inside namespaces never clash with other labs. */
export const DEV = 'eth0';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

export const now = (): number => performance.timeOrigin + performance.now();

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command without a shell; never throws (code -1 when it could not run). */
export function run(argv: readonly string[], timeoutMs = 10_000): Promise<RunResult> {
  const [cmd, ...args] = argv;
  return new Promise((resolve) => {
    execFile(cmd ?? '', args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (error?.message ?? '') });
    });
  });
}

let realtimeProbe: Promise<boolean> | null = null;

/** Whether the probe may run under SCHED_FIFO (CAP_SYS_NICE and an RT budget); said once when not. */
function realtimeProbeAllowed(): Promise<boolean> {
  realtimeProbe ??= run(['chrt', '-f', '10', 'true']).then((r) => {
    if (r.code !== 0) process.stderr.write(`lab: the client probe runs at normal priority (chrt -f 10 failed: ${r.stderr.trim()}); its own pauses may stretch what it measures\n`);
    return r.code === 0;
  });
  return realtimeProbe;
}

/** Why the lab cannot run here, or null. */
export async function labUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const cmd of ['ip', 'nft', 'arping']) {
    const found = await run(['sh', '-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`]);
    if (found.code !== 0) return `${cmd} is not installed`;
  }
  const probe = `hpe-probe-${process.pid}`;
  const add = await run(['ip', 'netns', 'add', probe]);
  await run(['ip', 'netns', 'del', probe]);
  return add.code === 0 ? null : `ip netns add failed: ${add.stderr.trim()}`;
}

export interface StatusView {
  readonly node: string;
  readonly leader: string | null;
  readonly term: number;
  readonly active: { readonly node: string; readonly epoch: number; readonly reason: string } | null;
  readonly members: ReadonlyArray<{
    readonly id: string;
    readonly role: string;
    readonly reachable: boolean;
    readonly health: string;
    readonly version: string | null;
    readonly appliedIndex: number;
    readonly monitors?: ReadonlyArray<{ readonly name: string; readonly state: string }>;
  }>;
  readonly mode?: string;
  readonly conditions: ReadonlyArray<{ readonly code: string; readonly message: string }>;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

interface AgentProcess {
  child: ChildProcess;
  readonly logFile: string;
}

/** A probe from a namespace to the VIP, streaming answers as they come. */
export class RunningProbe {
  private readonly answers = new Map<number, string[]>();
  /** Send time and host of each answer, for waiting on live conditions. */
  private readonly live: { sentAt: number; host: string }[] = [];
  private readonly done: Promise<ProbeRow[]>;

  constructor(
    private readonly child: ChildProcess,
    readonly startedAt: number,
  ) {
    let buffer = '';
    let sends: number[] | null = null;
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.startsWith('a ')) {
          const [, seqText, host, sentText] = line.split(' ');
          const seq = Number(seqText);
          const list = this.answers.get(seq) ?? [];
          if (host !== undefined && !list.includes(host)) list.push(host);
          this.answers.set(seq, list);
          if (host !== undefined) this.live.push({ sentAt: Number(sentText), host });
        } else if (line.startsWith('s ')) sends = JSON.parse(line.slice(2)) as number[];
      }
    });
    this.done = new Promise((resolve, reject) => {
      child.once('exit', (code) => {
        if (sends === null) return reject(new Error(`probe exited (${code}) without its report`));
        resolve(
          sends.map((sentAt, seq) => {
            const hosts = this.answers.get(seq) ?? [];
            return { seq, sentAt, host: hosts[0] ?? null, hosts };
          }),
        );
      });
    });
  }

  /** How many answers `host` gave to probes sent at or after `since`. */
  countFrom(host: string, since: number): number {
    let n = 0;
    for (const a of this.live) if (a.host === host && a.sentAt >= since) n++;
    return n;
  }

  /** Send time of the latest probe `host` answered, or null. */
  lastAnswerFrom(host: string): number | null {
    for (let i = this.live.length - 1; i >= 0; i--) {
      const a = this.live[i];
      if (a !== undefined && a.host === host) return a.sentAt;
    }
    return null;
  }

  /** Waits until `host` answered `count` probes sent at or after `since`; false on timeout or probe exit. */
  async waitAnswers(host: string, count: number, since: number, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end && this.child.exitCode === null) {
      if (this.countFrom(host, since) >= count) return true;
      await sleep(20);
    }
    return this.countFrom(host, since) >= count;
  }

  /** The rows once the probe ends by itself (its `maxMs`). */
  result(): Promise<ProbeRow[]> {
    return this.done;
  }

  /** Stops sending, waits briefly for late answers, and returns one row per probe sent. */
  async stop(): Promise<ProbeRow[]> {
    if (this.child.exitCode === null) this.child.stdin?.end();
    return this.done;
  }
}

export interface LabOptions {
  /** Run a witness (three voters); without it the pair is two voters (docs/role.md §9). Default true. */
  readonly witness?: boolean;
  /**
   * The agents whose node config forms the cluster (`cluster.bootstrap`);
   * default every agent. The others are added later with `hapair join`
   * (R5): start them with `startAgent(id, { join })`.
   */
  readonly bootstrap?: readonly AgentId[];
  /** `raft.snapshotEveryEntries` in every node config (default: the agent's own). */
  readonly snapshotEveryEntries?: number;
}

export interface AgentOptions {
  /** The root of another install of hapair to run instead of this checkout (see `makeInstall`). */
  readonly install?: string;
  /** Instead of `cluster.bootstrap`: `cluster.join` listing these members of the running cluster. */
  readonly join?: readonly AgentId[];
  /** `network.interfaces` of the node config; default `{ lan: eth0 }`. */
  readonly interfaces?: Readonly<Record<string, string>>;
  /** A directory put first on the agent's PATH: stand-ins for the tools it runs (see `failingTool`). */
  readonly pathFirst?: string;
}

export class E2eLab {
  readonly id = `hpe${randomBytes(4).toString('hex').slice(0, 6)}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'hapair-e2e-'));
  /** Seen by every agent as its own directory (see the header); write a node's files with `runDirOf`. */
  readonly runDir = join(this.dir, 'run');
  readonly witness: boolean;
  /** The agents of this lab, data nodes first. */
  readonly agentIds: readonly AgentId[];
  /** The agents that form the cluster from their node config (the others join it). */
  readonly bootstrap: readonly AgentId[];
  private readonly snapshotEveryEntries: number | undefined;
  private readonly hosts: readonly Host[];
  readonly token = randomBytes(24).toString('hex');
  private readonly bridgeNs = `${this.id}-br`;
  private readonly created: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly agents = new Map<AgentId, AgentProcess>();
  private readonly macs = new Map<Host, string>();
  private readonly socket = join(this.dir, 'api.sock');
  private readonly exitFallback = (): void => this.downSync();

  constructor(options: LabOptions = {}) {
    this.witness = options.witness ?? true;
    this.agentIds = this.witness ? ['fw1', 'fw2', 'wit'] : ['fw1', 'fw2'];
    this.bootstrap = options.bootstrap ?? this.agentIds;
    this.snapshotEveryEntries = options.snapshotEveryEntries;
    this.hosts = HOSTS.filter((h) => h !== 'wit' || this.witness);
    process.once('exit', this.exitFallback);
  }

  /** The directory that agent `id` sees at `runDir`. */
  runDirOf(id: AgentId): string {
    return join(this.dir, `run-${id}`);
  }

  ns(host: Host): string {
    return `${this.id}-${host}`;
  }

  async up(): Promise<void> {
    await this.must(['ip', 'netns', 'add', this.bridgeNs], true);
    await this.must(['ip', '-n', this.bridgeNs, 'link', 'set', 'lo', 'up']);
    await this.must(['ip', '-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await this.must(['ip', '-n', this.bridgeNs, 'link', 'set', 'br0', 'up']);
    // Partitions are bridge-family drop rules, as in deploy/lab/lab.sh.
    await this.must(['ip', 'netns', 'exec', this.bridgeNs, 'nft', 'add table bridge lab; add chain bridge lab forward { type filter hook forward priority 0; policy accept; }']);
    for (const host of this.hosts) {
      const ns = this.ns(host);
      await this.must(['ip', 'netns', 'add', ns], true);
      await this.must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      await this.must(['ip', 'link', 'add', DEV, 'netns', ns, 'type', 'veth', 'peer', 'name', `v-${host}`, 'netns', this.bridgeNs]);
      await this.must(['ip', '-n', this.bridgeNs, 'link', 'set', `v-${host}`, 'master', 'br0', 'up']);
      await this.must(['ip', '-n', ns, 'link', 'set', DEV, 'up']);
      await this.must(['ip', '-n', ns, 'addr', 'add', `${ADDR[host]}/${PREFIX_LEN}`, 'dev', DEV]);
      const link = JSON.parse((await this.must(['ip', '-n', ns, '-j', 'link', 'show', 'dev', DEV])).stdout) as { address: string }[];
      this.macs.set(host, link[0]?.address ?? '');
    }
    writeFileSync(
      join(this.dir, 'tokens.yaml'),
      `tokens:\n  - { name: e2e, role: admin, sha256: "${createHash('sha256').update(this.token).digest('hex')}" }\n`,
    );
  }

  /** Kills everything this lab started (by PID) and deletes its namespaces (by name) and temp dir. */
  async down(): Promise<void> {
    const exits = [...this.children].map((c) => {
      if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      return Promise.race([exited, sleep(5000)]);
    });
    await Promise.all(exits);
    this.children.clear();
    for (const ns of this.created.splice(0).reverse()) await run(['ip', 'netns', 'del', ns]);
    // For debugging a failed run: HAPAIR_E2E_LOGS=DIR keeps the agents' logs there.
    const keep = process.env['HAPAIR_E2E_LOGS'];
    if (keep !== undefined && keep !== '') {
      mkdirSync(keep, { recursive: true });
      for (const [id, a] of this.agents) if (existsSync(a.logFile)) copyFileSync(a.logFile, join(keep, `${this.id}-${id}.log`));
    }
    rmSync(this.dir, { recursive: true, force: true });
    process.off('exit', this.exitFallback);
  }

  private downSync(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const ns of this.created.splice(0).reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // Already gone.
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  async exec(host: Host, argv: readonly string[]): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', this.ns(host), ...argv]);
  }

  async must(argv: readonly string[], createsNs = false): Promise<RunResult> {
    const r = await run(argv);
    if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim()}`);
    if (createsNs) this.created.push(argv[argv.length - 1] ?? '');
    return r;
  }

  mac(host: Host): string {
    return this.macs.get(host) ?? '';
  }

  // --- agents -----------------------------------------------------------------

  /**
   * Starts agent `id` in its namespace, in a private mount namespace where
   * `runDir` is its own `runDirOf(id)`, with a node config written from
   * `options` (see AgentOptions). Its data directory is kept across
   * restarts (`wipeData` clears it).
   */
  startAgent(id: AgentId, options: AgentOptions = {}): void {
    if (!this.agentIds.includes(id)) throw new Error(`${id} is not an agent of this lab`);
    const configFile = join(this.dir, `${id}.yaml`);
    writeFileSync(configFile, this.nodeConfig(id, options));
    mkdirSync(this.runDir, { recursive: true });
    mkdirSync(this.runDirOf(id), { recursive: true });
    const logFile = join(this.dir, `${id}.log`);
    const fd = openSync(logFile, 'a');
    // The built CLI when it is current, as operators run it; else src/ through tsx.
    const command = options.install === undefined ? cliCommand().argv : [process.execPath, '--import', 'tsx', join(options.install, 'src', 'cli', 'main.ts')];
    // unshare and sh exec in place like `ip netns exec`, so the child's PID stays the agent's.
    const mountThenRun = 'mount --bind "$1" "$2" || exit 97; shift 2; exec "$@"';
    const argv = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', mountThenRun, 'sh', this.runDirOf(id), this.runDir];
    const env = options.pathFirst === undefined ? process.env : { ...process.env, PATH: `${options.pathFirst}:${process.env['PATH'] ?? ''}` };
    const child = spawn('ip', ['netns', 'exec', this.ns(id), ...argv, ...command, 'agent', '--config', configFile], {
      cwd: ROOT,
      env,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.track(child);
    this.agents.set(id, { child, logFile });
  }

  /** `ip netns exec` (and the mount wrapper) exec the command in place, so the child's PID is the agent's. */
  signal(id: AgentId, signal: NodeJS.Signals): void {
    const agent = this.agents.get(id);
    if (agent === undefined || agent.child.pid === undefined) throw new Error(`${id} was never started`);
    process.kill(agent.child.pid, signal);
  }

  /** Kills (SIGKILL) the agent's own child processes named `name` (their parent is its PID); returns how many. */
  killChildren(id: AgentId, name: string): number {
    const pid = this.agents.get(id)?.child.pid;
    if (pid === undefined) throw new Error(`${id} was never started`);
    let killed = 0;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue; // ended meanwhile
      }
      // pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid || comm !== name) continue;
      process.kill(Number(entry), 'SIGKILL');
      killed++;
    }
    return killed;
  }

  async waitExit(id: AgentId, timeoutMs = 5000): Promise<boolean> {
    const child = this.agents.get(id)?.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return true;
    const exited = new Promise<boolean>((resolve) => child.once('exit', () => resolve(true)));
    return Promise.race([exited, sleep(timeoutMs).then(() => false)]);
  }

  /** Whether the agent process is still alive (a crash is worth reporting, not waiting on). */
  agentRunning(id: AgentId): boolean {
    const child = this.agents.get(id)?.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  logTail(id: AgentId, chars = 2500): string {
    const file = this.agents.get(id)?.logFile;
    if (file === undefined) return '';
    try {
      // API request lines drown the rest; the role and network lines tell the story.
      const lines = readFileSync(file, 'utf8').split('\n').filter((l) => !l.includes('"part":"api"'));
      return lines.join('\n').slice(-chars);
    } catch {
      return '';
    }
  }

  /** Clears the data directory of a stopped agent: its next start is a new node (a replaced host). */
  wipeData(id: AgentId): void {
    if (this.agentRunning(id)) throw new Error(`${id} is still running: stop it before wiping its data`);
    rmSync(this.dataDir(id), { recursive: true, force: true });
  }

  private dataDir(id: AgentId): string {
    return join(this.dir, id);
  }

  private nodeConfig(id: AgentId, options: AgentOptions): string {
    const kind = (n: AgentId): string => (n === 'wit' ? 'witness' : 'data');
    let cluster: string[];
    if (options.join !== undefined) {
      cluster = ['  join:', ...options.join.map((n) => `    - { id: ${n}, peer: ${hostPort(n, PEER_PORT)} }`)];
    } else if (this.bootstrap.includes(id)) {
      cluster = [
        '  bootstrap:',
        ...this.bootstrap.map((n) => `    - { id: ${n}, peer: ${hostPort(n, PEER_PORT)}, api: ${hostPort(n, API_PORT)}, kind: ${kind(n)} }`),
      ];
    } else {
      throw new Error(`${id} is not in the lab's bootstrap (${this.bootstrap.join(', ')}): start it with { join: [...] }`);
    }
    const interfaces = Object.entries(options.interfaces ?? { lan: DEV }).map(([name, dev]) => `${name}: ${dev}`);
    return [
      `node: { id: ${id}, kind: ${kind(id)}, dataDir: ${this.dataDir(id)} }`,
      `peer: { listen: ${hostPort(id, PEER_PORT)} }`,
      `api: { listen: ${hostPort(id, API_PORT)}, tokensFile: ${join(this.dir, 'tokens.yaml')} }`,
      'cluster:',
      '  name: e2e',
      ...cluster,
      ...(this.snapshotEveryEntries === undefined ? [] : [`raft: { snapshotEveryEntries: ${this.snapshotEveryEntries} }`]),
      `network: { driver: linux, interfaces: { ${interfaces.join(', ')} } }`,
      'log: { level: info }',
      '',
    ].join('\n');
  }

  // --- helpers in the namespaces ----------------------------------------------

  /** A UDP responder on 0.0.0.0 that answers each datagram with `<host> <datagram>`. */
  async startResponder(host: Host): Promise<void> {
    const code = `
      const s = require('node:dgram').createSocket('udp4');
      s.on('message', (m, r) => s.send(${JSON.stringify(host)} + ' ' + m.toString(), r.port, r.address));
      s.on('error', () => {});
      s.bind(${ECHO_PORT}, '0.0.0.0', () => console.log('ready'));`;
    await this.startReady(host, code, `responder in ${host}`);
  }

  /**
   * Starts any command in a host's namespace, tracked like the lab's own
   * processes (killed by PID at down()). `ip netns exec` execs in place, so
   * the child's PID is the command's.
   */
  spawnIn(host: Host, argv: readonly string[], logFile?: string): ChildProcess {
    const fd = logFile === undefined ? null : openSync(logFile, 'a');
    const child = spawn('ip', ['netns', 'exec', this.ns(host), ...argv], { stdio: ['ignore', fd ?? 'ignore', fd ?? 'ignore'] });
    if (fd !== null) closeSync(fd);
    this.track(child);
    return child;
  }

  /** An HTTP forwarder in the client namespace on a Unix socket: `x-target: host:port` picks the upstream. */
  async startApiForwarder(): Promise<void> {
    const code = `
      const http = require('node:http');
      const server = http.createServer((req, res) => {
        const [host, port] = String(req.headers['x-target']).split(':');
        const headers = { ...req.headers }; delete headers['x-target']; headers.host = host + ':' + port;
        const up = http.request({ host, port: Number(port), path: req.url, method: req.method, headers, timeout: 8000 }, (r) => {
          res.writeHead(r.statusCode, r.headers); r.pipe(res);
        });
        up.on('timeout', () => up.destroy(new Error('upstream timeout')));
        up.on('error', (e) => {
          if (!res.headersSent) res.writeHead(599, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: 'E2E_FORWARD', message: e.message }));
        });
        req.pipe(up);
      });
      server.listen(${JSON.stringify(this.socket)}, () => console.log('ready'));`;
    await this.startReady('client', code, 'API forwarder');
  }

  /** The agent's log file (pino JSON lines), for timing what it did. */
  agentLog(id: AgentId): string {
    const file = this.agents.get(id)?.logFile;
    if (file === undefined || !existsSync(file)) return '';
    return readFileSync(file, 'utf8');
  }

  private async startReady(host: Host, code: string, what: string): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', this.ns(host), process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.track(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} did not start`)), 10_000);
      child.stdout?.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', (c) => {
        clearTimeout(timer);
        reject(new Error(`${what} exited (${c})`));
      });
    });
  }

  /**
   * From `from`, one datagram to the VIP every `everyMs` until stop() or
   * `maxMs`, but at least `minSends` of them (a freshly started probe on a
   * busy machine may send far fewer than `maxMs / everyMs`; up to 5 s more
   * are allowed for that). With `viaMac`, the VIP's neighbour entry in
   * `from` is pinned to that MAC first, so only that host's kernel can answer.
   */
  async startProbe(options: { from?: Host; everyMs?: number; maxMs: number; minSends?: number; viaMac?: string }): Promise<RunningProbe> {
    const from = options.from ?? 'client';
    if (options.viaMac !== undefined) {
      const r = await this.exec(from, ['ip', 'neigh', 'replace', VIP, 'lladdr', options.viaMac, 'dev', DEV, 'nud', 'permanent']);
      if (r.code !== 0) throw new Error(`pinning the VIP's neighbour entry in ${from}: ${r.stderr}`);
    }
    const code = `
      const s = require('node:dgram').createSocket('udp4');
      const now = () => performance.timeOrigin + performance.now();
      const sends = [];
      let finished = false;
      s.on('error', () => {});
      s.on('message', (m) => {
        const [host, seqText] = m.toString().split(' ');
        const seq = Number(seqText);
        if (sends[seq] !== undefined) process.stdout.write('a ' + seq + ' ' + host + ' ' + sends[seq] + '\\n');
      });
      const end = now() + ${options.maxMs};
      const finish = () => {
        if (finished) return; finished = true; clearInterval(timer);
        setTimeout(() => { process.stdout.write('s ' + JSON.stringify(sends) + '\\n', () => process.exit(0)); }, 250);
      };
      const timer = setInterval(() => {
        if (now() > end && (sends.length >= ${options.minSends ?? 0} || now() > end + 5000)) return finish();
        const seq = sends.length; sends.push(now());
        s.send(String(seq), ${ECHO_PORT}, ${JSON.stringify(VIP)});
      }, ${options.everyMs ?? 5});
      process.stdin.on('data', () => {});
      process.stdin.on('end', finish);
      s.bind(0, () => process.stdout.write('started\\n'));`;
    // SCHED_FIFO: in the lab the client shares two cores with the nodes, and a
    // client starved mid-move would stretch the measured silence; a client on
    // its own machine is not starved by the pair's work.
    const realtime = (await realtimeProbeAllowed()) ? ['chrt', '-f', '10'] : [];
    const child = spawn('ip', ['netns', 'exec', this.ns(from), ...realtime, process.execPath, '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.track(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (c) => reject(new Error(`probe exited (${c}) before starting`)));
    });
    return new RunningProbe(child, now());
  }

  /** A short probe from `peek` through `host`'s MAC: does that host's kernel answer for the VIP? */
  async answersThrough(host: Host, forMs = 400): Promise<ProbeRow[]> {
    // At least 60 datagrams: the checks of a host's silence or answers want 40 or more.
    const probe = await this.startProbe({ from: 'peek', maxMs: forMs, minSends: 60, viaMac: this.mac(host) });
    const rows = await probe.result();
    await this.exec('peek', ['ip', 'neigh', 'del', VIP, 'dev', DEV]);
    return rows;
  }

  // --- the CLI ------------------------------------------------------------------

  /**
   * `hapair ARGS` run in the client namespace, which reaches every agent's
   * API (the setup check asks each node directly), with the lab's admin
   * token in HAPAIR_TOKEN.
   */
  cli(args: readonly string[], timeoutMs = 90_000): Promise<RunResult> {
    const env = ['env', `HAPAIR_TOKEN=${this.token}`, 'NO_COLOR=1'];
    return run(['ip', 'netns', 'exec', this.ns('client'), ...env, ...cliCommand().argv, ...args], timeoutMs);
  }

  // --- faults -------------------------------------------------------------------

  /**
   * Drops every frame between a and b in the bridge (both ways); with
   * `icmpOnly`, only IPv4 ICMP (a monitored path lost while the Raft path
   * between the same hosts still works).
   */
  async partition(a: Host, b: Host, options: { icmpOnly?: boolean } = {}): Promise<void> {
    const match = options.icmpOnly === true ? ['ip', 'protocol', 'icmp'] : [];
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      await this.must(['ip', 'netns', 'exec', this.bridgeNs, 'nft', 'add', 'rule', 'bridge', 'lab', 'forward', 'iifname', `v-${x}`, 'oifname', `v-${y}`, ...match, 'drop']);
    }
  }

  /** Pulls `host`'s cable: the bridge side of its veth goes down, so the host sees no carrier. */
  async cutCable(host: Host): Promise<void> {
    await this.must(['ip', '-n', this.bridgeNs, 'link', 'set', `v-${host}`, 'down']);
  }

  async plugCable(host: Host): Promise<void> {
    await this.must(['ip', '-n', this.bridgeNs, 'link', 'set', `v-${host}`, 'up']);
  }

  async heal(): Promise<void> {
    await this.must(['ip', 'netns', 'exec', this.bridgeNs, 'nft', 'flush', 'chain', 'bridge', 'lab', 'forward']);
  }

  // --- the API, through the forwarder ----------------------------------------------

  api(id: AgentId, method: string, path: string, body?: unknown, timeoutMs = 8000): Promise<ApiAnswer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socket,
          path,
          method,
          headers: {
            'x-target': `${ADDR[id]}:${API_PORT}`,
            authorization: `Bearer ${this.token}`,
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          },
          timeout: timeoutMs,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // Not JSON: keep the text for the message.
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} on ${id}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async status(id: AgentId): Promise<StatusView | null> {
    const r = await this.api(id, 'GET', '/v1/status', undefined, 2000).catch(() => null);
    return r !== null && r.status === 200 ? (r.body as StatusView) : null;
  }

  private track(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => {
      // Agents stay tracked until restarted so that signal() and waitExit() can see them.
      if (![...this.agents.values()].some((a) => a.child === child)) this.children.delete(child);
    });
  }
}

/**
 * Another install of this build that reports `version`: a copy of src/ and
 * of package.json with that version, beside a link to node_modules. That is
 * what installing a release amounts to for R11: the agent reads its version
 * from the package.json above its own code (src/node/version.ts). Returns
 * the install's root, for `startAgent(id, { install })`.
 */
export function makeInstall(parent: string, version: string): string {
  const root = join(parent, `install-${version}`);
  mkdirSync(root, { recursive: true });
  cpSync(join(ROOT, 'src'), join(root, 'src'), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(root, 'package.json'), `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  return root;
}

/**
 * A stand-in for the tool `name` in a new directory under `parent`, for
 * `startAgent(id, { pathFirst: dir })`: it runs the real tool, except while
 * the file `flag` exists, when a run with the argument `whenArg` fails as a
 * broken install would (exit 1, a line on stderr). Returns the directory.
 */
export function failingTool(parent: string, name: string, whenArg: string, flag: string): string {
  const real = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
  if (real === '') throw new Error(`${name} is not on the PATH`);
  const dir = mkdtempSync(join(parent, `failing-${name}-`));
  const fail = `echo "${name}: failing on purpose (the test's flag file exists)" >&2; exit 1`;
  const script = `#!/bin/sh\nfor a in "$@"; do if [ "$a" = '${whenArg}' ] && [ -e '${flag}' ]; then ${fail}; fi; done\nexec '${real}' "$@"\n`;
  writeFileSync(join(dir, name), script, { mode: 0o755 });
  return dir;
}

/**
 * How to run the `hapair` CLI: the built one (dist/src/cli/main.js, what
 * `npm install` puts on the PATH) when it is at least as new as every
 * source file, else the sources through tsx, so that a stale build is never
 * what a test exercises. `what` says which, for the test's log.
 */
export function cliCommand(): { argv: string[]; what: string } {
  const built = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const builtAt = existsSync(built) ? statSync(built).mtimeMs : -1;
  const newest = newestMtime(join(ROOT, 'src'));
  if (builtAt >= newest) return { argv: [process.execPath, built], what: 'the built CLI (dist/src/cli/main.js)' };
  const why = builtAt < 0 ? 'dist/ is not built' : 'dist/ is older than src/ (npm run build)';
  return { argv: [process.execPath, '--import', 'tsx', CLI], what: `the CLI from src/ through tsx (${why})` };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** The version of this checkout (package.json). */
export function checkoutVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a value (not null/false) or `timeoutMs` passes; null on timeout. */
export async function until<T>(probe: () => Promise<T | null | false>, timeoutMs: number, everyMs = 50): Promise<T | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe().catch(() => null);
    if (got !== null && got !== false) return got;
    if (Date.now() > end) return null;
    await sleep(everyMs);
  }
}
