/**
 * Gratuitous ARP (IPv4, `arping -U`) and unsolicited neighbour
 * advertisements (IPv6, `na6` from ipv6toolkit, with the Override flag so
 * neighbours replace an entry that points at the old host).
 *
 * Two arpings exist in Debian and only one can be installed:
 * - iputils' (package iputils-arping, preferred): its first packet leaves
 *   about 2 ms after the process starts, so every packet is its own process
 *   (`-c 1`), started by the agent's timers and killed at the lease end by
 *   `timeout` (it has no deadline below a second);
 * - Thomas Habets' (package arping): libpcap and libnet take about 40 ms to
 *   start before the first packet, so the burst is one process (`-c N -W`)
 *   carrying its own deadline (`-w`).
 *
 * Both send through packet sockets, which the nftables fence does not see.
 * So no announcement may outlive the lease: every process is started only
 * while the lease is valid on the driver's clock and ends no later than the
 * lease end (Habets' `-w`, `timeout -s KILL` for the others), and repeats
 * are driven by the agent's timers, so a frozen agent sends no more of them.
 */
import type { CommandRunner } from './command.js';
import type { ParsedVip } from './address.js';
import { ArmedArping } from './armed-arping.js';
import { unreachable } from '../../util/assert.js';

export interface AnnounceTiming {
  /** Packets sent at once after taking the VIPs (and on every re-announce). */
  readonly burstCount: number;
  readonly burstIntervalMs: number;
  /** Slower repeats after the burst, for neighbours that missed it. */
  readonly tailCount: number;
  readonly tailIntervalMs: number;
  /** How long after a use the ready shell is replaced (ArmedArping; default REARM_DELAY_MS). */
  readonly rearmDelayMs?: number;
}

export const DEFAULT_ANNOUNCE: AnnounceTiming = { burstCount: 3, burstIntervalMs: 100, tailCount: 3, tailIntervalMs: 1000 };

export interface AnnounceTarget {
  readonly vip: ParsedVip;
  readonly device: string;
}

export type ArpingFlavor = 'iputils' | 'habets';

export interface AnnouncerPaths {
  readonly arping: string;
  readonly arpingFlavor: ArpingFlavor;
  /** coreutils' timeout: the hard deadline of tools that have none. */
  readonly timeout: string;
  /** null when ipv6toolkit is not installed: IPv6 VIPs cannot be announced. */
  readonly na6: string | null;
}

/** `timeout -s KILL` exits with this when it had to kill the command (128 + SIGKILL). */
const KILLED_BY_TIMEOUT = 137;

/** arping exits 1 when nobody answers, which is normal for gratuitous ARP. */
const ARPING_NORMAL_EXITS: readonly number[] = [0, 1];
/** An armed arping runs under timeout too, which kills it at the lease end. */
const ARMED_NORMAL_EXITS: readonly number[] = [...ARPING_NORMAL_EXITS, KILLED_BY_TIMEOUT];

/** Processes started and not yet finished are bounded: an announce storm must not fork-bomb. */
const MAX_IN_FLIGHT = 64;

export class Announcer {
  private readonly timers = new Map<string, NodeJS.Timeout[]>();
  /** Announcement processes still running; a release stops them (a Habets burst outlives its start). */
  private readonly running = new Set<AbortController>();
  /** Packets (processes) skipped because too many were running. */
  skipped = 0;
  /** First packets sent from a shell started in advance (iputils' arping only). */
  readonly armed: ArmedArping | null;

  constructor(
    private readonly runner: CommandRunner,
    private readonly paths: AnnouncerPaths,
    private readonly timing: AnnounceTiming,
    /** Milliseconds of lease left on the driver's clock (<= 0: not held). */
    private readonly leaseLeftMs: () => number,
    private readonly onError: (line: string) => void,
  ) {
    switch (paths.arpingFlavor) {
      case 'iputils':
        this.armed = new ArmedArping(runner, paths.timeout, (t) => arpingArgv(paths.arping, 'iputils', t, 1, 0, 0), ARMED_NORMAL_EXITS, onError, timing.rearmDelayMs);
        break;
      case 'habets':
        // Its 40 ms start-up is in the packet's path whatever starts it.
        this.armed = null;
        break;
      default:
        unreachable(paths.arpingFlavor);
    }
  }

  /** The VIPs a takeover may announce: their first packet is made ready in advance. */
  arm(targets: readonly AnnounceTarget[]): void {
    this.armed?.arm(targets);
  }

  /** Starts the burst and the tail; returns an error sentence when nothing could be sent. */
  start(targets: readonly AnnounceTarget[]): string | null {
    if (this.leaseLeftMs() <= 0) return 'not announcing: the lease is not held';
    for (const target of targets) {
      if (target.vip.family === 6 && this.paths.na6 === null) {
        return `cannot announce ${target.vip.address}: na6 not found (install the Debian package ipv6toolkit)`;
      }
    }
    for (const target of targets) {
      this.cancel(target.vip.key);
      const timers: NodeJS.Timeout[] = [];
      this.timers.set(target.vip.key, timers);
      const one = () => (target.vip.family === 4 ? this.arping(target, 1, 0) : this.na6(target));
      if (target.vip.family === 4 && this.paths.arpingFlavor === 'habets') {
        this.arping(target, this.timing.burstCount, this.timing.burstIntervalMs);
      } else {
        const fired = target.vip.family === 4 && this.armed !== null && this.armed.fire(target, this.leaseLeftMs());
        if (!fired) one();
        for (let i = 1; i < this.timing.burstCount; i++) timers.push(setTimeout(one, i * this.timing.burstIntervalMs));
      }
      const tailStartMs = this.timing.burstCount * this.timing.burstIntervalMs;
      for (let i = 1; i <= this.timing.tailCount; i++) timers.push(setTimeout(one, tailStartMs + i * this.timing.tailIntervalMs));
    }
    return null;
  }

  /** Stops every pending packet and every running announcement process (release); the ready shells stay. */
  stopAll(): void {
    for (const key of [...this.timers.keys()]) this.cancel(key);
    for (const controller of this.running) controller.abort();
    this.running.clear();
    this.armed?.stopFired();
  }

  /** stopAll, and the ready shells too (the driver closes). */
  close(): void {
    this.stopAll();
    this.armed?.close();
  }

  private cancel(key: string): void {
    for (const t of this.timers.get(key) ?? []) clearTimeout(t);
    this.timers.delete(key);
  }

  private arping(target: AnnounceTarget, count: number, intervalMs: number): void {
    const left = this.leaseLeftMs();
    if (leaseSeconds(left) === null) return;
    const deadlineMs = Math.min(Math.floor(left), count * Math.max(intervalMs, 1) + 200);
    const argv = arpingArgv(this.paths.arping, this.paths.arpingFlavor, target, count, intervalMs, deadlineMs);
    if (this.paths.arpingFlavor === 'habets') this.launch(argv, deadlineMs + 1000, ARPING_NORMAL_EXITS);
    else this.launchBounded(argv, left, ARPING_NORMAL_EXITS);
  }

  private na6(target: AnnounceTarget): void {
    const left = this.leaseLeftMs();
    if (this.paths.na6 === null || leaseSeconds(left) === null) return;
    const a = target.vip.address;
    this.launchBounded([this.paths.na6, '-i', target.device, '-s', a, '-d', 'ff02::1', '-t', a, '-o', '-e'], left, [0]);
  }

  /**
   * A tool that sends at once and has no deadline of its own runs under
   * `timeout -s KILL`, started with what is left of the lease: it is killed
   * at the lease end (counted from when timeout starts, a few ms after the
   * agent measured the lease), without relying on the agent, which may be
   * frozen by then.
   */
  private launchBounded(argv: readonly string[], leftMs: number, normalExits: readonly number[]): void {
    const seconds = leaseSeconds(leftMs);
    if (seconds === null) return;
    // --foreground: only the tool is killed, so timeout itself exits 137 rather than dying with its process group.
    const bounded = [this.paths.timeout, '--foreground', '-s', 'KILL', seconds, ...argv];
    // Killed at the lease end while still waiting for replies (iputils' arping waits a second): as meant.
    this.launch(bounded, leftMs + 1000, [...normalExits, KILLED_BY_TIMEOUT]);
  }

  /** Runs one announcement process; an exit code outside `normalExits` is reported. */
  private launch(argv: readonly string[], timeoutMs: number, normalExits: readonly number[]): void {
    if (this.running.size >= MAX_IN_FLIGHT) {
      this.skipped++;
      return;
    }
    const controller = new AbortController();
    this.running.add(controller);
    // SIGTERM, not SIGKILL: timeout passes it on to the tool it runs; killed outright it would leave the tool running without a deadline.
    void this.runner.run(argv, { timeoutMs, signal: controller.signal, killSignal: 'SIGTERM' }).then((result) => {
      this.running.delete(controller);
      if (controller.signal.aborted) return;
      if (result.failure !== null) this.onError(result.failure);
      else if (result.code === null || !normalExits.includes(result.code)) {
        this.onError(`${argv.join(' ')} exited ${result.code}: ${(result.stderr || result.stdout).trim().split('\n')[0] ?? ''}`);
      }
    });
  }
}

/**
 * What is left of the lease as a duration for timeout(1): whole
 * milliseconds, rounded down, in seconds; null below one millisecond, where
 * nothing may be sent (timeout reads a duration of 0 as no limit at all).
 */
export function leaseSeconds(leftMs: number): string | null {
  const ms = Math.floor(leftMs);
  return ms >= 1 ? (ms / 1000).toFixed(3) : null;
}

/**
 * One announcement process. iputils' sends its single packet at once
 * (`count` must be 1: its interval and deadline are whole seconds);
 * Habets' sends `count` packets `intervalMs` apart and stops by itself at
 * `deadlineMs`.
 */
export function arpingArgv(
  arping: string,
  flavor: ArpingFlavor,
  target: AnnounceTarget,
  count: number,
  intervalMs: number,
  deadlineMs: number,
): string[] {
  const a = target.vip.address;
  switch (flavor) {
    case 'iputils':
      if (count !== 1) throw new RangeError(`iputils arping sends one packet per process, asked for ${count}`);
      return [arping, '-q', '-U', '-I', target.device, '-s', a, '-c', '1', a];
    case 'habets': {
      const argv = [arping, '-q', '-U', '-S', a, '-i', target.device, '-c', String(count)];
      if (count > 1) argv.push('-W', (intervalMs / 1000).toFixed(3));
      argv.push('-w', (Math.floor(deadlineMs) / 1000).toFixed(3), a);
      return argv;
    }
  }
}

/** Which arping `-V` describes: iputils' prints its name, Habets' its own in the usage text. */
export function arpingFlavorOf(versionText: string): ArpingFlavor | null {
  if (/iputils/i.test(versionText)) return 'iputils';
  if (/Habets/.test(versionText)) return 'habets';
  return null;
}
