/**
 * keepalived (Debian package `keepalived`) as the failover bench runs it:
 * one VRRP instance per data node in the lab's namespaces, on the same
 * interface and VIP as hapair, with its own config, PID files and log in
 * the bench's directory. Processes are stopped by the PIDs it started (and
 * the VRRP child's PID from its own PID file), never by name.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../../src/util/process.js';
import { DEV, PREFIX_LEN, sleep, VIP, type E2eLab } from '../../test/e2e/lab.js';

export type KeepalivedNode = 'fw1' | 'fw2';

export interface KeepalivedProfile {
  readonly name: 'default' | 'fast';
  /** VRRP version: 2 (advert in whole seconds) or 3 (centiseconds). */
  readonly version: 2 | 3;
  readonly advertSeconds: number;
}

/** keepalived's defaults (VRRPv2, advert 1 s) and the fast profile the issue names (VRRPv3, advert 0.1 s). */
export const KEEPALIVED_PROFILES: Readonly<Record<'default' | 'fast', KeepalivedProfile>> = {
  default: { name: 'default', version: 2, advertSeconds: 1 },
  fast: { name: 'fast', version: 3, advertSeconds: 0.1 },
};

/** fw1 is the higher priority (it preempts: keepalived's default), as `preferred: fw1` with auto failback in hapair. */
export const PRIORITY: Readonly<Record<KeepalivedNode, number>> = { fw1: 150, fw2: 100 };

export function describeProfile(p: KeepalivedProfile): string {
  return `VRRPv${p.version}, advert ${p.advertSeconds} s, priorities fw1 ${PRIORITY.fw1} / fw2 ${PRIORITY.fw2}, preempt`;
}

/**
 * The config of one node. Everything else is keepalived's default: GARP
 * on becoming master (5 at once, 5 more after 5 s), preemption, master
 * down interval 3 adverts + skew.
 */
export function keepalivedConfig(node: KeepalivedNode, profile: KeepalivedProfile, routerId: number): string {
  if (profile.version === 2 && !Number.isInteger(profile.advertSeconds)) {
    throw new Error(`keepalived profile ${profile.name}: VRRPv2 adverts are whole seconds, got ${profile.advertSeconds}`);
  }
  return [
    'global_defs {',
    `  router_id hapair-bench-${node}`,
    `  vrrp_version ${profile.version}`,
    '  enable_script_security',
    '}',
    '',
    'vrrp_instance bench {',
    '  state BACKUP',
    `  interface ${DEV}`,
    `  virtual_router_id ${routerId}`,
    `  priority ${PRIORITY[node]}`,
    `  advert_int ${profile.advertSeconds}`,
    '  virtual_ipaddress {',
    `    ${VIP}/${PREFIX_LEN} dev ${DEV}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

interface Running {
  readonly parent: ChildProcess;
  readonly vrrpPidFile: string;
}

/** keepalived on fw1 and fw2 of one lab. */
export class KeepalivedPair {
  private readonly running = new Map<KeepalivedNode, Running>();

  constructor(
    private readonly lab: E2eLab,
    private readonly profile: KeepalivedProfile,
    private readonly routerId = 51,
  ) {}

  logFile(node: KeepalivedNode): string {
    return join(this.lab.dir, `keepalived-${node}.log`);
  }

  start(node: KeepalivedNode): void {
    if (this.isRunning(node)) throw new Error(`keepalived on ${node} is already running`);
    const dir = this.lab.dir;
    const conf = join(dir, `keepalived-${node}.conf`);
    writeFileSync(conf, keepalivedConfig(node, this.profile, this.routerId));
    const pid = (what: string): string => join(dir, `keepalived-${node}${what}.pid`);
    // A PID file left by a killed run must not be mistaken for the new child (or signalled).
    for (const what of ['', '-vrrp', '-checkers']) rmSync(pid(what), { force: true });
    const argv = [
      '/usr/sbin/keepalived',
      '--dont-fork',
      '--log-console',
      '--log-detail',
      '--vrrp',
      '--use-file', conf,
      '--pid', pid(''),
      '--vrrp_pid', pid('-vrrp'),
      '--checkers_pid', pid('-checkers'),
    ];
    const parent = this.lab.spawnIn(node, argv, this.logFile(node));
    this.running.set(node, { parent, vrrpPidFile: pid('-vrrp') });
  }

  isRunning(node: KeepalivedNode): boolean {
    const r = this.running.get(node);
    return r !== undefined && r.parent.exitCode === null && r.parent.signalCode === null;
  }

  /** The VRRP child keepalived forked (it holds the VIP); null until it wrote its PID file. */
  private vrrpPid(node: KeepalivedNode): number | null {
    const r = this.running.get(node);
    if (r === undefined || !existsSync(r.vrrpPidFile)) return null;
    const pid = Number(readFileSync(r.vrrpPidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  }

  /** Waits until the VRRP child is up (its PID file exists). */
  async waitStarted(node: KeepalivedNode, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (!this.isRunning(node)) throw new Error(`keepalived on ${node} exited:\n${this.logTail(node)}`);
      if (this.vrrpPid(node) !== null) return;
      await sleep(20);
    }
    throw new Error(`keepalived on ${node} did not start its VRRP process within ${timeoutMs} ms:\n${this.logTail(node)}`);
  }

  /** A planned stop: SIGTERM to the parent, which stops the VRRP child (it sends a priority-0 advert). */
  async stop(node: KeepalivedNode, timeoutMs = 10_000): Promise<void> {
    const r = this.running.get(node);
    if (r === undefined || !this.isRunning(node)) return;
    const exited = new Promise<void>((resolve) => r.parent.once('exit', () => resolve()));
    r.parent.kill('SIGTERM');
    await Promise.race([exited, sleep(timeoutMs)]);
    if (this.isRunning(node)) await this.kill(node);
    this.running.delete(node);
  }

  /** A crash: SIGKILL to the VRRP child and the parent, by the PIDs this bench started (and the child's PID file). */
  async kill(node: KeepalivedNode): Promise<void> {
    const r = this.running.get(node);
    if (r === undefined) return;
    const child = this.vrrpPid(node);
    // The parent first, so that it does not restart the child.
    if (this.isRunning(node)) r.parent.kill('SIGKILL');
    if (child !== null) {
      try {
        process.kill(child, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const end = Date.now() + 5000;
    while (Date.now() < end && (this.isRunning(node) || (child !== null && processAlive(child)))) await sleep(10);
    this.running.delete(node);
  }

  async stopAll(): Promise<void> {
    for (const node of ['fw1', 'fw2'] as const) await this.stop(node);
  }

  logTail(node: KeepalivedNode, chars = 2000): string {
    try {
      return readFileSync(this.logFile(node), 'utf8').slice(-chars);
    } catch {
      return '';
    }
  }
}

/** Why keepalived cannot run here, or null. */
export function keepalivedMissing(): string | null {
  return existsSync('/usr/sbin/keepalived') ? null : 'keepalived is not installed (apt-get install keepalived)';
}
