/**
 * Role-change hooks, like keepalived's notify scripts: operator commands
 * run when this node becomes active, standby or faulty, with the node,
 * epoch, reason and role in the environment. They run beside the VIP path,
 * never in front of it: fire() returns at once, each hook is killed (its
 * whole process group) after its timeout, and the number running at once
 * is bounded.
 */
import { spawn } from 'node:child_process';
import type { HookSettings } from '../fsm/settings.js';

/** `fault` hooks: the settings' `on` has no `fault` value yet, so only `any` hooks run on a fault. */
export type HookRole = 'active' | 'standby' | 'fault';

export interface HookContext {
  readonly node: string;
  readonly role: HookRole;
  readonly epoch: number | null;
  readonly reason: string;
}

export interface HookOutcome {
  readonly command: string;
  readonly role: HookRole;
  /** Exit code; null when it was killed or could not start. */
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly durationMs: number;
  /** The last line it printed or the reason it could not start (bounded). */
  readonly detail: string;
}

export interface HookRunnerOptions {
  readonly maxRunning?: number;
  readonly onOutcome?: (outcome: HookOutcome) => void;
}

export class HookRunner {
  private hooks: readonly HookSettings[] = [];
  private running = 0;
  private readonly maxRunning: number;
  private readonly onOutcome: (outcome: HookOutcome) => void;
  private readonly children = new Set<number>();
  /** Hooks not started because maxRunning were already running. */
  skipped = 0;

  constructor(options: HookRunnerOptions = {}) {
    this.maxRunning = options.maxRunning ?? 8;
    this.onOutcome = options.onOutcome ?? (() => undefined);
  }

  setHooks(hooks: readonly HookSettings[]): void {
    this.hooks = hooks;
  }

  /** Starts every hook for `context.role`; returns how many were started. Never waits for them. */
  fire(context: HookContext): number {
    let started = 0;
    for (const hook of this.hooks) {
      if (hook.on !== 'any' && hook.on !== context.role) continue;
      if (this.running >= this.maxRunning) {
        this.skipped++;
        this.onOutcome({ command: hook.command, role: context.role, code: null, timedOut: false, durationMs: 0, detail: 'not started: too many hooks running' });
        continue;
      }
      this.start(hook, context);
      started++;
    }
    return started;
  }

  /** Kills every hook still running (agent shutdown). */
  killAll(): void {
    for (const pid of this.children) killGroup(pid);
  }

  private start(hook: HookSettings, context: HookContext): void {
    const startedAt = performance.now();
    this.running++;
    let output = '';
    let timedOut = false;
    let finished = false;
    const child = spawn('/bin/sh', ['-c', hook.command], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        HAPAIR_NODE: context.node,
        HAPAIR_ROLE: context.role,
        HAPAIR_EPOCH: context.epoch === null ? '' : String(context.epoch),
        HAPAIR_REASON: context.reason,
      },
    });
    const pid = child.pid;
    if (pid !== undefined) this.children.add(pid);
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killGroup(pid);
    }, hook.timeoutMs);
    const collect = (chunk: Buffer): void => {
      if (output.length < 4096) output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const finish = (code: number | null, detail: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.running--;
      if (pid !== undefined) this.children.delete(pid);
      this.onOutcome({ command: hook.command, role: context.role, code, timedOut, durationMs: performance.now() - startedAt, detail });
    };
    child.on('error', (e) => finish(null, `cannot start: ${e.message}`));
    child.on('close', (code) => {
      const lines = output.trim().split('\n');
      finish(code, timedOut ? `killed after ${hook.timeoutMs} ms` : (lines[lines.length - 1] ?? '').slice(0, 200));
    });
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
