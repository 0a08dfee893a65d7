/**
 * Runs the configured monitors: each on its own interval, each probe bounded
 * by its timeout, results folded through failAfter/recoverAfter hysteresis.
 * The agent reads observations() and health() into the role logic's
 * LocalView and gets a callback on every state transition (events,
 * metrics). Settings changes replace the list; a monitor whose settings did
 * not change keeps its state.
 */
import type { HealthState, MonitorState } from '../fsm/commands.js';
import type { MonitorSettings } from '../fsm/settings.js';
import { SETTINGS_LIMITS } from '../fsm/settings.js';
import type { MonitorObservation } from '../role/types.js';
import { assert } from '../util/assert.js';
import { makeCheck, type Check, type CheckEnv, type ProbeResult } from './checks.js';
import { INITIAL_HYSTERESIS, stepHysteresis, type HysteresisState } from './hysteresis.js';

export interface MonitorTransition {
  readonly name: string;
  readonly from: MonitorState;
  readonly to: MonitorState;
  /** The probe result that caused it. */
  readonly detail: string;
}

export interface MonitorStatus {
  readonly name: string;
  readonly kind: MonitorSettings['kind'];
  readonly state: MonitorState;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  readonly lastDetail: string | null;
  /** Clock time of the last finished probe, or null. */
  readonly lastProbeAtMs: number | null;
  readonly probes: number;
}

/** Timers the runner uses; tests inject their own. */
export interface RunnerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface MonitorRunnerOptions extends CheckEnv {
  readonly onTransition?: (transition: MonitorTransition) => void;
  readonly timers?: RunnerTimers;
  readonly clock?: () => number;
  /** Builds the probe for a monitor; defaults to the real checks. */
  readonly checkFor?: (settings: MonitorSettings) => Check;
}

interface Slot {
  readonly settings: MonitorSettings;
  readonly key: string;
  readonly check: Check;
  hysteresis: HysteresisState;
  lastDetail: string | null;
  lastProbeAtMs: number | null;
  probes: number;
  timer: unknown;
  running: AbortController | null;
  stopped: boolean;
}

const realTimers: RunnerTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class MonitorRunner {
  private slots = new Map<string, Slot>();
  private readonly timers: RunnerTimers;
  private readonly clock: () => number;
  private readonly checkFor: (settings: MonitorSettings) => Check;
  private readonly onTransition: (t: MonitorTransition) => void;

  constructor(private readonly options: MonitorRunnerOptions) {
    this.timers = options.timers ?? realTimers;
    this.clock = options.clock ?? (() => performance.now());
    this.checkFor = options.checkFor ?? ((s) => makeCheck(s, options));
    this.onTransition = options.onTransition ?? (() => undefined);
  }

  /** Replaces the monitor list; unchanged monitors keep their state and schedule. */
  setMonitors(list: readonly MonitorSettings[]): void {
    assert(list.length <= SETTINGS_LIMITS.monitors, `monitor runner: ${list.length} monitors is over the limit`);
    const next = new Map<string, Slot>();
    for (const settings of list) {
      assert(!next.has(settings.name), `monitor runner: duplicate monitor name ${settings.name}`);
      const key = JSON.stringify(settings);
      const old = this.slots.get(settings.name);
      if (old !== undefined && old.key === key) {
        next.set(settings.name, old);
        continue;
      }
      const slot: Slot = {
        settings,
        key,
        check: this.checkFor(settings),
        hysteresis: INITIAL_HYSTERESIS,
        lastDetail: null,
        lastProbeAtMs: null,
        probes: 0,
        timer: null,
        running: null,
        stopped: false,
      };
      next.set(settings.name, slot);
      slot.timer = this.timers.setTimeout(() => void this.probe(slot), 0);
    }
    for (const [name, old] of this.slots) if (next.get(name) !== old) this.stopSlot(old);
    this.slots = next;
  }

  /** Stops every monitor (in-flight probes are aborted). */
  stop(): void {
    for (const slot of this.slots.values()) this.stopSlot(slot);
    this.slots = new Map();
  }

  observations(): MonitorObservation[] {
    return [...this.slots.values()].map((s) => ({
      name: s.settings.name,
      reported: s.hysteresis.state !== 'unknown',
      healthy: s.hysteresis.state === 'up',
    }));
  }

  /**
   * failed when any monitor is down; unknown while any has not settled;
   * healthy otherwise (and with none). A monitor `of` another node is this
   * node's view of that node, not its own health (R10), so it never counts.
   */
  health(): HealthState {
    const states = [...this.slots.values()].filter((s) => s.settings.of === null).map((s) => s.hysteresis.state);
    if (states.includes('down')) return 'failed';
    if (states.includes('unknown')) return 'unknown';
    return 'healthy';
  }

  statuses(): MonitorStatus[] {
    return [...this.slots.values()].map((s) => ({
      name: s.settings.name,
      kind: s.settings.kind,
      state: s.hysteresis.state,
      consecutiveFailures: s.hysteresis.consecutiveFailures,
      consecutiveSuccesses: s.hysteresis.consecutiveSuccesses,
      lastDetail: s.lastDetail,
      lastProbeAtMs: s.lastProbeAtMs,
      probes: s.probes,
    }));
  }

  private stopSlot(slot: Slot): void {
    slot.stopped = true;
    if (slot.timer !== null) this.timers.clearTimeout(slot.timer);
    slot.timer = null;
    slot.running?.abort();
  }

  private async probe(slot: Slot): Promise<void> {
    slot.timer = null;
    if (slot.stopped) return;
    const controller = new AbortController();
    slot.running = controller;
    const started = this.clock();
    const result = await this.bounded(slot, controller);
    slot.running = null;
    if (slot.stopped) return;
    slot.probes++;
    slot.lastDetail = result.detail;
    slot.lastProbeAtMs = this.clock();
    const before = slot.hysteresis.state;
    slot.hysteresis = stepHysteresis(slot.hysteresis, result.ok, slot.settings);
    if (slot.hysteresis.state !== before) {
      this.onTransition({ name: slot.settings.name, from: before, to: slot.hysteresis.state, detail: result.detail });
    }
    // The interval counts from the start of the probe, so a slow probe does not stretch it.
    const waitMs = Math.max(0, slot.settings.intervalMs - (this.clock() - started));
    slot.timer = this.timers.setTimeout(() => void this.probe(slot), waitMs);
  }

  /** The probe raced against its timeout: a probe that ignores the abort still cannot stall the monitor. */
  private bounded(slot: Slot, controller: AbortController): Promise<ProbeResult> {
    const timeoutMs = slot.settings.timeoutMs;
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: ProbeResult): void => {
        if (done) return;
        done = true;
        this.timers.clearTimeout(timer);
        resolve(r);
      };
      const timer = this.timers.setTimeout(() => {
        controller.abort();
        finish({ ok: false, detail: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      slot.check(controller.signal).then(finish, (e: unknown) => finish({ ok: false, detail: `probe failed: ${(e as Error).message}` }));
    });
  }
}
