/**
 * Gratuitous ARP (IPv4, Thomas Habets' `arping -U -S VIP`) and unsolicited
 * neighbour advertisements (IPv6, `na6` from ipv6toolkit, with the Override
 * flag so neighbours replace an entry that points at the old host).
 *
 * Both tools send through packet sockets, which the nftables fence does not
 * see. So no announcement may outlive the lease: every packet is sent only
 * while the lease is valid on the driver's clock, the burst process carries
 * its own deadline (`arping -w`) no later than the lease end, and the tail
 * is driven by the agent's timers, so a frozen agent sends no tail at all.
 */
import type { CommandRunner } from './command.js';
import type { ParsedVip } from './address.js';

export interface AnnounceTiming {
  /** Packets sent at once after taking the VIPs (and on every re-announce). */
  readonly burstCount: number;
  readonly burstIntervalMs: number;
  /** Slower repeats after the burst, for neighbours that missed it. */
  readonly tailCount: number;
  readonly tailIntervalMs: number;
}

export const DEFAULT_ANNOUNCE: AnnounceTiming = { burstCount: 3, burstIntervalMs: 100, tailCount: 3, tailIntervalMs: 1000 };

export interface AnnounceTarget {
  readonly vip: ParsedVip;
  readonly device: string;
}

export interface AnnouncerPaths {
  readonly arping: string;
  /** null when ipv6toolkit is not installed: IPv6 VIPs cannot be announced. */
  readonly na6: string | null;
}

/** Processes started and not yet finished are bounded: an announce storm must not fork-bomb. */
const MAX_IN_FLIGHT = 64;

export class Announcer {
  private readonly timers = new Map<string, NodeJS.Timeout[]>();
  private inFlight = 0;
  /** Packets (processes) skipped because too many were running. */
  skipped = 0;

  constructor(
    private readonly runner: CommandRunner,
    private readonly paths: AnnouncerPaths,
    private readonly timing: AnnounceTiming,
    /** Milliseconds of lease left on the driver's clock (<= 0: not held). */
    private readonly leaseLeftMs: () => number,
    private readonly onError: (line: string) => void,
  ) {}

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
      if (target.vip.family === 4) {
        this.arping(target, this.timing.burstCount, this.timing.burstIntervalMs);
      } else {
        this.na6(target);
        for (let i = 1; i < this.timing.burstCount; i++) {
          timers.push(setTimeout(() => this.na6(target), i * this.timing.burstIntervalMs));
        }
      }
      const tailStartMs = this.timing.burstCount * this.timing.burstIntervalMs;
      for (let i = 1; i <= this.timing.tailCount; i++) {
        timers.push(
          setTimeout(() => (target.vip.family === 4 ? this.arping(target, 1, 0) : this.na6(target)), tailStartMs + i * this.timing.tailIntervalMs),
        );
      }
    }
    return null;
  }

  /** Stops every pending tail packet (release, close). */
  stopAll(): void {
    for (const key of [...this.timers.keys()]) this.cancel(key);
  }

  private cancel(key: string): void {
    for (const t of this.timers.get(key) ?? []) clearTimeout(t);
    this.timers.delete(key);
  }

  private arping(target: AnnounceTarget, count: number, intervalMs: number): void {
    const left = this.leaseLeftMs();
    if (left <= 0) return;
    const deadlineMs = Math.min(left, count * Math.max(intervalMs, 1) + 200);
    const argv = [this.paths.arping, '-q', '-U', '-S', target.vip.address, '-i', target.device, '-c', String(count)];
    if (count > 1) argv.push('-W', (intervalMs / 1000).toFixed(3));
    argv.push('-w', (deadlineMs / 1000).toFixed(3), target.vip.address);
    this.launch(argv, deadlineMs + 1000);
  }

  private na6(target: AnnounceTarget): void {
    if (this.paths.na6 === null || this.leaseLeftMs() <= 0) return;
    const a = target.vip.address;
    this.launch([this.paths.na6, '-i', target.device, '-s', a, '-d', 'ff02::1', '-t', a, '-o', '-e'], 5000);
  }

  private launch(argv: string[], timeoutMs: number): void {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.skipped++;
      return;
    }
    this.inFlight++;
    void this.runner.run(argv, { timeoutMs }).then((result) => {
      this.inFlight--;
      // arping exits 1 when nobody answers, which is normal for gratuitous ARP.
      if (result.failure !== null) this.onError(result.failure);
      else if (result.code !== 0 && !(argv[0] === this.paths.arping && result.code === 1)) {
        this.onError(`${argv.join(' ')} exited ${result.code}: ${(result.stderr || result.stdout).trim().split('\n')[0] ?? ''}`);
      }
    });
  }
}
