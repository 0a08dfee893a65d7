/**
 * The first gratuitous ARP of a takeover, from a process started in advance.
 *
 * Starting a process from the agent costs 1.5-3 ms of its main thread
 * (Node forks the whole agent before the exec), measured on the takeover
 * path, and the takeover waits for it. So for each IPv4 VIP a small shell
 * is started ahead of time and waits on its input; told the lease left, it
 * execs `timeout -s KILL <left> arping ... -c 1`, so the packet is bounded
 * by the lease exactly as a freshly started one. The shell sends nothing
 * unless told: at the end of its input (the agent exited) it exits. Each
 * one is used once and replaced shortly after, off the takeover path.
 * iputils' arping only (Habets' needs 40 ms to start whatever starts it).
 */
import { leaseSeconds, type AnnounceTarget } from './announce.js';
import type { CommandRunner, LongRunningChild } from './command.js';

/**
 * `$0` is timeout, `$@` the arping command line; the one line read must be a
 * positive number of seconds (timeout reads 0 as no limit), anything else
 * ends the shell without sending.
 */
export const ARMED_SCRIPT =
  'read -r left || exit 0; case "$left" in ""|*[!0-9.]*|*.*.*|.*) exit 2;; esac; case "$left" in *[1-9]*) ;; *) exit 2;; esac; ' +
  'exec "$0" --foreground -s KILL "$left" "$@"';

/** How long after a use the replacement is started: after the takeover's busy moments. */
export const REARM_DELAY_MS = 250;

/** What the shell prints beyond this is dropped. */
const MAX_OUTPUT_CHARS = 2000;

interface Armed {
  readonly child: LongRunningChild;
  fired: boolean;
  output: string;
}

export class ArmedArping {
  /** Targets to keep armed, by key. */
  private readonly wanted = new Map<string, AnnounceTarget>();
  private readonly armed = new Map<string, Armed>();
  /** Fired and still running: a release stops them. */
  private readonly inFlight = new Set<Armed>();
  private readonly rearmTimers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Shells started so far (tests and status read it). */
  started = 0;

  constructor(
    private readonly runner: CommandRunner,
    private readonly timeoutPath: string,
    /** The arping command line for one packet to `target`. */
    private readonly arpingArgv: (target: AnnounceTarget) => string[],
    /** Exit codes that are not errors (arping's and timeout's). */
    private readonly normalExits: readonly number[],
    private readonly onError: (line: string) => void,
    private readonly rearmDelayMs = REARM_DELAY_MS,
  ) {}

  /** Keeps one shell ready per IPv4 target in `targets` (and none for any other). */
  arm(targets: readonly AnnounceTarget[]): void {
    if (this.closed) return;
    const next = new Map(targets.filter((t) => t.vip.family === 4).map((t) => [keyOf(t), t]));
    // The key names the address and the device, all the command line depends on.
    for (const [key, armed] of this.armed) {
      if (!next.has(key)) {
        this.armed.delete(key);
        armed.child.kill();
      }
    }
    this.wanted.clear();
    for (const [key, target] of next) this.wanted.set(key, target);
    for (const [key, target] of next) if (!this.armed.has(key)) this.start(key, target);
  }

  /** Sends the first packet to `target` through its ready shell; false when none is ready (the caller starts a process). */
  fire(target: AnnounceTarget, leaseLeftMs: number): boolean {
    const key = keyOf(target);
    const armed = this.armed.get(key);
    const seconds = leaseSeconds(leaseLeftMs);
    if (armed === undefined || seconds === null) return false;
    this.armed.delete(key);
    // A shell that is gone takes nothing: the caller starts a process instead.
    if (!armed.child.write(`${seconds}\n`)) {
      armed.child.kill();
      return false;
    }
    armed.fired = true;
    this.inFlight.add(armed);
    armed.child.end();
    this.rearmLater(key);
    return true;
  }

  private rearmLater(key: string): void {
    const timer = setTimeout(() => {
      this.rearmTimers.delete(timer);
      const wanted = this.wanted.get(key);
      if (!this.closed && wanted !== undefined && !this.armed.has(key)) this.start(key, wanted);
    }, this.rearmDelayMs);
    timer.unref();
    this.rearmTimers.add(timer);
  }

  /** Stops packets already fired (a release); the ready shells stay ready. */
  stopFired(): void {
    // SIGTERM: the shell has become timeout, which passes it on to arping (SIGKILL would orphan arping).
    for (const armed of this.inFlight) armed.child.kill('SIGTERM');
    this.inFlight.clear();
  }

  close(): void {
    this.closed = true;
    for (const timer of this.rearmTimers) clearTimeout(timer);
    this.rearmTimers.clear();
    this.stopFired();
    for (const armed of this.armed.values()) armed.child.kill();
    this.armed.clear();
    this.wanted.clear();
  }

  /** Process ids of the shells waiting to be told (tests). */
  readyPids(): number[] {
    return [...this.armed.values()].flatMap((a) => (a.child.pid === undefined ? [] : [a.child.pid]));
  }

  private start(key: string, target: AnnounceTarget): void {
    const child = this.runner.startMerged(['/bin/sh', '-c', ARMED_SCRIPT, this.timeoutPath, ...this.arpingArgv(target)]);
    this.started++;
    const armed: Armed = { child, fired: false, output: '' };
    this.armed.set(key, armed);
    child.onOutput((chunk) => {
      if (armed.output.length < MAX_OUTPUT_CHARS) armed.output += chunk;
    });
    child.onExit((code, signal) => {
      if (!armed.fired) {
        // arm() and close() take a shell out of the map before they kill it: one still in it ended by itself.
        if (this.armed.get(key) !== armed) return;
        this.armed.delete(key);
        this.onError(`the ready shell for ${key} ended (${signal ?? `code ${code}`}): ${armed.output.trim().split('\n')[0] ?? ''}; starting another`);
        this.rearmLater(key);
        return;
      }
      const stopped = !this.inFlight.delete(armed);
      if (stopped || (code !== null && this.normalExits.includes(code))) return;
      this.onError(`armed ${this.arpingArgv(target).join(' ')} exited ${code}: ${armed.output.trim().split('\n')[0] ?? ''}`);
    });
  }
}

function keyOf(target: AnnounceTarget): string {
  return `${target.vip.key}@${target.device}`;
}
