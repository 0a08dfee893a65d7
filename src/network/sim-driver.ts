/**
 * The sim network driver: no privileges, no system calls. It records every
 * action with its epoch and a timestamp from a caller-supplied clock
 * (virtual time in the simulator and tests), and models the kernel fence:
 * VIPs held under a fence stop answering when the fence expires without a
 * renewal, as a frozen agent's would. The simulator checks from
 * intervals() that no two nodes ever answer for the VIPs at once.
 */
import type { VipSettings } from '../fsm/settings.js';
import { assert } from '../util/assert.js';
import type { DesiredVipState, DriverResult, NetworkDriver, ReconcileReport } from './driver.js';

export type SimRecord =
  | {
      readonly at: number;
      readonly op: 'hold';
      readonly epoch: number;
      readonly vips: readonly string[];
      readonly fenceMs: number;
      /** True when this hold started answering for the VIPs (not a renewal). */
      readonly started: boolean;
    }
  | { readonly at: number; readonly op: 'release'; readonly epoch: number | null }
  | { readonly at: number; readonly op: 'fence-expired'; readonly epoch: number }
  | { readonly at: number; readonly op: 'announce'; readonly epoch: number; readonly vips: readonly string[] }
  | { readonly at: number; readonly op: 'policy'; readonly revision: number; readonly ok: boolean; readonly error: string | null }
  | { readonly at: number; readonly op: 'reconcile' }
  | { readonly at: number; readonly op: 'close' };

/** A span of time during which `node` answered for the VIPs under `epoch`. */
export interface VipInterval {
  readonly node: string;
  readonly epoch: number;
  readonly start: number;
  /** For the open interval: when its fence expires unless renewed. */
  readonly end: number;
  readonly endedBy: 'release' | 'fence' | 'epoch-change' | 'open';
}

export interface SimDriverOptions {
  readonly node: string;
  /** Milliseconds (virtual in tests); must never go backwards. */
  readonly clock: () => number;
  /** Returns an error sentence for a ruleset the "kernel" should refuse. */
  readonly policyCheck?: (ruleset: string) => string | null;
  readonly maxRecords?: number;
  readonly maxIntervals?: number;
  /** The devices this simulated host has; absent: every device exists. */
  readonly devices?: readonly string[];
}

export class SimNetworkDriver implements NetworkDriver {
  readonly name = 'sim';
  readonly node: string;
  private readonly clock: () => number;
  private readonly policyCheck: (ruleset: string) => string | null;
  private readonly maxRecords: number;
  private readonly maxIntervals: number;
  private readonly devices: readonly string[] | null;
  private readonly log: SimRecord[] = [];
  private readonly closedIntervals: VipInterval[] = [];
  private current: { epoch: number; start: number; fenceUntil: number } | null = null;
  private lastAt = -Infinity;
  private closed = false;
  /** Records and intervals dropped to stay within the bounds. */
  droppedRecords = 0;
  droppedIntervals = 0;
  policy: { readonly ruleset: string; readonly revision: number } = { ruleset: '', revision: 0 };

  constructor(options: SimDriverOptions) {
    this.node = options.node;
    this.clock = options.clock;
    this.policyCheck = options.policyCheck ?? (() => null);
    this.maxRecords = options.maxRecords ?? 100_000;
    this.maxIntervals = options.maxIntervals ?? 100_000;
    this.devices = options.devices ?? null;
  }

  // --- synchronous API (the simulator drives these directly) -------------

  setVipStateSync(desired: DesiredVipState): DriverResult {
    const at = this.now();
    if (this.closed) return { ok: false, error: 'driver is closed' };
    if (!desired.hold) {
      const epoch = this.current?.epoch ?? null;
      if (this.current !== null) this.closeInterval(at, 'release');
      this.record({ at, op: 'release', epoch });
      return { ok: true };
    }
    assert(desired.fenceMs > 0, 'sim driver: a hold needs a positive fence');
    let started = false;
    if (this.current !== null && this.current.epoch !== desired.epoch) this.closeInterval(at, 'epoch-change');
    if (this.current === null) {
      this.current = { epoch: desired.epoch, start: at, fenceUntil: at + desired.fenceMs };
      started = true;
    } else {
      this.current = { ...this.current, fenceUntil: at + desired.fenceMs };
    }
    this.record({ at, op: 'hold', epoch: desired.epoch, vips: desired.vips.map((v) => v.address), fenceMs: desired.fenceMs, started });
    return { ok: true };
  }

  announceSync(vips: readonly VipSettings[], epoch: number): DriverResult {
    const at = this.now();
    if (this.closed) return { ok: false, error: 'driver is closed' };
    this.record({ at, op: 'announce', epoch, vips: vips.map((v) => v.address) });
    return { ok: true };
  }

  applyPolicySync(ruleset: string, revision: number): DriverResult {
    const at = this.now();
    if (this.closed) return { ok: false, error: 'driver is closed' };
    const error = this.policyCheck(ruleset);
    this.record({ at, op: 'policy', revision, ok: error === null, error });
    if (error !== null) return { ok: false, error };
    this.policy = { ruleset, revision };
    return { ok: true };
  }

  reconcileSync(): ReconcileReport {
    this.record({ at: this.now(), op: 'reconcile' });
    return { repaired: [], errors: [] };
  }

  closeSync(): void {
    if (this.closed) return;
    const at = this.now();
    if (this.current !== null) this.closeInterval(at, 'release');
    this.record({ at, op: 'close' });
    this.closed = true;
  }

  // --- NetworkDriver -------------------------------------------------------

  setVipState(desired: DesiredVipState): Promise<DriverResult> {
    return Promise.resolve(this.setVipStateSync(desired));
  }

  announce(vips: readonly VipSettings[], epoch: number): Promise<DriverResult> {
    return Promise.resolve(this.announceSync(vips, epoch));
  }

  applyPolicy(ruleset: string, revision: number): Promise<DriverResult> {
    return Promise.resolve(this.applyPolicySync(ruleset, revision));
  }

  reconcile(): Promise<ReconcileReport> {
    return Promise.resolve(this.reconcileSync());
  }

  checkDevices(devices: readonly string[]): Promise<Readonly<Record<string, string | null>>> {
    const known = this.devices;
    const out: Record<string, string | null> = {};
    for (const d of devices) out[d] = known === null || known.includes(d) ? null : `device "${d}" does not exist on this (simulated) host`;
    return Promise.resolve(out);
  }

  close(): Promise<void> {
    this.closeSync();
    return Promise.resolve();
  }

  // --- inspection ------------------------------------------------------------

  records(): readonly SimRecord[] {
    return this.log;
  }

  /** Epoch the node answers for at `at` (fence considered), or null. */
  holding(at: number = this.clock()): number | null {
    const c = this.current;
    return c !== null && at < c.fenceUntil ? c.epoch : null;
  }

  /** Every interval so far; the open one ends at its fence expiry. */
  intervals(): VipInterval[] {
    this.now();
    const open =
      this.current === null
        ? []
        : [{ node: this.node, epoch: this.current.epoch, start: this.current.start, end: this.current.fenceUntil, endedBy: 'open' as const }];
    return [...this.closedIntervals, ...open];
  }

  private now(): number {
    const at = this.clock();
    assert(at >= this.lastAt, `sim driver ${this.node}: clock went backwards (${at} < ${this.lastAt})`);
    this.lastAt = at;
    // A fence that ran out before now ended the interval then, whatever the agent did.
    const c = this.current;
    if (c !== null && c.fenceUntil <= at) {
      this.closeInterval(c.fenceUntil, 'fence');
      this.record({ at: c.fenceUntil, op: 'fence-expired', epoch: c.epoch });
    }
    return at;
  }

  private closeInterval(end: number, endedBy: VipInterval['endedBy']): void {
    const c = this.current;
    assert(c !== null, 'closeInterval without an open interval');
    this.closedIntervals.push({ node: this.node, epoch: c.epoch, start: c.start, end, endedBy });
    if (this.closedIntervals.length > this.maxIntervals) {
      this.closedIntervals.shift();
      this.droppedIntervals++;
    }
    this.current = null;
  }

  private record(r: SimRecord): void {
    this.log.push(r);
    if (this.log.length > this.maxRecords) {
      this.log.shift();
      this.droppedRecords++;
    }
  }
}

/** Pairs of intervals on different nodes that overlap in time (empty when safe). */
export function findOverlaps(intervals: readonly VipInterval[]): [VipInterval, VipInterval][] {
  const sorted = [...intervals].filter((i) => i.end > i.start).sort((a, b) => a.start - b.start);
  const overlaps: [VipInterval, VipInterval][] = [];
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i] as VipInterval;
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j] as VipInterval;
      if (b.start >= a.end) break;
      if (a.node !== b.node) overlaps.push([a, b]);
    }
  }
  return overlaps;
}
