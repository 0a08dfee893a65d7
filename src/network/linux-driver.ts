/**
 * The `linux` network driver: VIPs with iproute2 (one long-lived
 * `ip -batch`, src/network/linux/ip-session.ts), announcements with arping
 * and na6, the policy and the kernel-held lease fence with nftables
 * (src/network/linux/fence.ts, docs/fencing.md).
 *
 * The lease on the driver's monotonic clock mirrors the one in the kernel:
 * `expiresAtMs` counts the timeout from before the command is written, so
 * the driver takes a lease for lapsed no later than the kernel does (the
 * kernel counts from when it applies the command, a little later, less its
 * rounding down to whole jiffies). How long a lease may still be live in
 * the kernel is kept apart (`unsilencedUntilMs`), counted from after each
 * write. A renewal of the same epoch is
 * "renew only if still held": once a lease has lapsed, that epoch is never
 * held again by this driver; the node needs a new grant (a new epoch).
 *
 * Every operation runs one at a time (a promise chain), so a reconcile
 * never races a renewal; policy loads and checks, which touch only the
 * policy's tables, run one at a time on a chain of their own.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { VipSettings } from '../fsm/settings.js';
import { assert } from '../util/assert.js';
import type { DesiredVipState, DriverResult, NetworkDriver, ReconcileReport } from './driver.js';
import { parseVip, type ParsedVip } from './linux/address.js';
import { Announcer, arpingFlavorOf, DEFAULT_ANNOUNCE, type AnnounceTiming, type ArpingFlavor } from './linux/announce.js';
import { describeFailure, findExecutable, SystemRunner, type CommandRunner } from './linux/command.js';
import {
  expectedLeaseKeys,
  fenceScript,
  leaseCommand,
  listCommands,
  MIN_LEASE_MS,
  parseFenceListing,
  releaseCommand,
  type FenceListing,
} from './linux/fence.js';
import { addArgs, alreadyAbsent, alreadyPresent, delArgs, parseIpAddrJson, parseIpLinkJson, type KernelAddress } from './linux/ip-addr.js';
import { InteractiveNft, isNotFound, OneShotNft, type NftExecutor } from './linux/nft-session.js';
import { batchLine, InteractiveIp } from './linux/ip-session.js';
import { parsePolicy, policyInForce, policyTransaction, type TableRef } from './linux/policy.js';
import { StandInRunner } from './linux/stand-in-runner.js';

export type LinuxDriverEvent =
  | { readonly type: 'fence-restored'; readonly detail: string }
  | { readonly type: 'lease-lapsed'; readonly epoch: number; readonly detail: string }
  | { readonly type: 'vip-repaired'; readonly detail: string }
  | { readonly type: 'announce-error'; readonly detail: string }
  | { readonly type: 'release-incomplete'; readonly detail: string }
  /** The fence could not be silenced on a release, but no VIP address is left: silent all the same. */
  | { readonly type: 'release-without-fence'; readonly detail: string };

export interface CommandPaths {
  readonly ip: string;
  readonly nft: string;
  readonly arping: string;
  /** Which of Debian's two arpings `arping` is (they take different options). */
  readonly arpingFlavor: ArpingFlavor;
  readonly timeout: string;
  readonly na6: string | null;
}

export interface LinuxDriverOptions {
  /** Runs every command; defaults to this machine. Tests pass one prefixed with `ip netns exec NS`. */
  readonly runner?: CommandRunner;
  /** From LinuxDriver.check(); defaults to the bare names. */
  readonly paths?: CommandPaths;
  readonly announce?: Partial<AnnounceTiming>;
  /** `interactive`: one long-lived `nft -j -i` (about 0.4 ms a renewal) and `ip -batch -`; `process`: a new `nft`/`ip` each time. */
  readonly nftMode?: 'interactive' | 'process';
  /** Compare the fence tables with what was installed on every renewal (two listings, ~1-4 ms; not on the takeover itself), not only on reconcile. */
  readonly verifyOnRenewal?: boolean;
  /** Monotonic milliseconds. */
  readonly clock?: () => number;
  readonly onEvent?: (event: LinuxDriverEvent) => void;
}

export type CheckResult =
  | { readonly ok: true; readonly paths: CommandPaths; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly error: string };

interface VipEntry {
  readonly settings: VipSettings;
  readonly vip: ParsedVip;
  readonly device: string;
}

interface Held {
  readonly epoch: number;
  readonly entries: readonly VipEntry[];
  expiresAtMs: number;
}

/**
 * Below this much lease left, a missing lease element is taken for a lapse
 * rather than tampering: the kernel may expire it up to a jiffy (4 ms at
 * HZ=250) before the driver's clock does.
 */
const LAPSE_SLACK_MS = 10;
/** Takeovers (hold, announce, renew, release) the warm-up runs through: enough for V8 to compile their code. */
const WARM_UP_TAKEOVERS = 20;
/** How long a release without the fence waits for a killed nft to exit, and how often it looks. */
const LINGER_WAIT_MS = 1000;
const LINGER_POLL_MS = 50;
/** Output kept of a ruleset listing: room for the largest policy with its counters, and other tables besides. */
const RULESET_LISTING_MAX_CHARS = 32_000_000;
/** Repairs noticed between reconciles, kept for the next report. */
const MAX_PENDING_REPAIRS = 100;

const REQUIRED = [
  { name: 'ip', pkg: 'iproute2' },
  { name: 'nft', pkg: 'nftables' },
  { name: 'arping', pkg: 'iputils-arping' },
  { name: 'timeout', pkg: 'coreutils' },
] as const;

export class LinuxDriver implements NetworkDriver {
  readonly name = 'linux';
  private readonly runner: CommandRunner;
  readonly paths: CommandPaths;
  private readonly nft: NftExecutor;
  /** null: one `ip` process per address change (nftMode `process`). */
  private readonly ipSession: InteractiveIp | null;
  private readonly clock: () => number;
  private readonly verifyOnRenewal: boolean;
  private readonly onEvent: (event: LinuxDriverEvent) => void;
  private readonly announcer: Announcer;
  /** Every operation but the policy's. */
  private readonly ops = new OneAtATime();
  /**
   * Policy loads and checks run one at a time on a chain of their own: they
   * touch only the policy's tables, and a large one takes long enough
   * (about 0.4 s for 900 KB) that renewals waiting behind it would let the
   * fence lapse, and a takeover would wait for it.
   */
  private readonly policyOps = new OneAtATime();
  private started = false;
  private closed = false;
  /** VIPs the fence tables know (their vips sets). */
  private fenceVips: VipEntry[] = [];
  /** Every VIP this driver was told of, so one dropped from the settings is still cleaned up. */
  private readonly knownVips = new Map<string, VipEntry>();
  private held: Held | null = null;
  /** Until when (driver clock) a lease this driver wrote may still be live in the kernel, counted from after each write; cleared once the fence is silenced. */
  private unsilencedUntilMs = -Infinity;
  /** The longest lease given to an nft that was killed and given up on before it exited (`lingering`): it may be written later. */
  private lingeringLeaseMs: number | null = null;
  /** Keys of held VIPs whose address the driver has put in place (reconcile checks the kernel). */
  private placed = new Set<string>();
  private lapsedEpoch: number | null = null;
  private baseline: string | null = null;
  private previousPolicyTables: readonly TableRef[] = [];
  private pendingRepairs: string[] = [];

  constructor(
    private readonly interfaces: Readonly<Record<string, string>>,
    readonly node: string,
    options: LinuxDriverOptions = {},
  ) {
    this.runner = options.runner ?? new SystemRunner();
    this.paths = options.paths ?? { ip: 'ip', nft: 'nft', arping: 'arping', arpingFlavor: 'iputils', timeout: 'timeout', na6: 'na6' };
    this.clock = options.clock ?? (() => performance.now());
    this.verifyOnRenewal = options.verifyOnRenewal ?? true;
    this.onEvent = options.onEvent ?? (() => undefined);
    this.nft =
      options.nftMode === 'process'
        ? new OneShotNft(this.runner, this.paths.nft)
        : new InteractiveNft(this.runner, { nftPath: this.paths.nft });
    this.ipSession = options.nftMode === 'process' ? null : new InteractiveIp(this.runner, this.paths.ip);
    this.announcer = new Announcer(
      this.runner,
      { arping: this.paths.arping, arpingFlavor: this.paths.arpingFlavor, timeout: this.paths.timeout, na6: this.paths.na6 },
      { ...DEFAULT_ANNOUNCE, ...options.announce },
      () => this.leaseLeftMs(),
      (detail) => this.onEvent({ type: 'announce-error', detail }),
    );
  }

  /** Finds the commands the driver runs; a missing one is an error naming the Debian package. */
  static async check(lookup: { path?: string; fallbackDirs?: readonly string[] } = {}): Promise<CheckResult> {
    const { path, fallbackDirs } = lookup;
    const found: Record<string, string> = {};
    const missing: string[] = [];
    for (const { name, pkg } of REQUIRED) {
      const at = await findExecutable(name, path, fallbackDirs);
      if (at === null) missing.push(`${name} (install the Debian package ${pkg})`);
      else found[name] = at;
    }
    if (missing.length > 0) return { ok: false, error: `the linux network driver needs: ${missing.join(', ')}` };
    const arping = found['arping'] ?? 'arping';
    const version = await new SystemRunner().run([arping, '-V'], { timeoutMs: 5000 });
    const arpingFlavor = arpingFlavorOf(`${version.stdout}\n${version.stderr}`);
    if (arpingFlavor === null) {
      return { ok: false, error: `${arping} is neither iputils' nor Thomas Habets' arping (install the Debian package iputils-arping)` };
    }
    const warnings: string[] = [];
    if (arpingFlavor === 'habets') {
      warnings.push(
        `${arping} is Thomas Habets' arping, which starts about 40 ms slower before its first gratuitous ARP than iputils' ` +
          '(replace the Debian package arping with iputils-arping for faster failover)',
      );
    }
    const na6 = await findExecutable('na6', path, fallbackDirs);
    if (na6 === null) warnings.push('na6 not found: IPv6 VIPs cannot be announced (install the Debian package ipv6toolkit)');
    return { ok: true, paths: { ip: found['ip'] ?? 'ip', nft: found['nft'] ?? 'nft', arping, arpingFlavor, timeout: found['timeout'] ?? 'timeout', na6 }, warnings };
  }

  /**
   * Runs the takeover's code once at start against a runner that runs
   * nothing (StandInRunner): a fresh agent otherwise ran it for the first
   * time in the middle of a failback to it, compiled on first call and
   * interpreted, about 0.7 ms slower to take the VIPs than a node that had
   * held them before (measured). Touches neither the kernel nor the real
   * driver; resolves with what went wrong in it (nothing, unless the
   * driver's code changed under it: then it warms less, and tests say so).
   */
  static async warmUp(
    interfaces: Readonly<Record<string, string>>,
    vips: readonly VipSettings[],
    paths: CommandPaths,
    runner: StandInRunner = new StandInRunner(),
  ): Promise<string[]> {
    // No fence check on renewals: the stand-in's listings are empty, and a takeover does not check either.
    // The ready shell is replaced at once, so that every round fires one as a real takeover does.
    const options = { runner, paths, announce: { burstCount: 1, tailCount: 0, rearmDelayMs: 0 }, verifyOnRenewal: false };
    const driver = new LinuxDriver(interfaces, 'warm-up', options);
    const problems: string[] = [];
    const note = (step: string, result: DriverResult): void => {
      if (!result.ok && problems.length < 10) problems.push(`${step}: ${result.error}`);
    };
    try {
      for (const error of (await driver.cleanupAtStart(vips)).errors) problems.push(`clean-up: ${error}`);
      for (let epoch = 1; epoch <= WARM_UP_TAKEOVERS; epoch++) {
        note('hold', await driver.setVipState({ hold: true, epoch, vips, fenceMs: 5000 }));
        note('announce', await driver.announce(vips, epoch));
        note('renew', await driver.setVipState({ hold: true, epoch, vips, fenceMs: 5000 }));
        note('release', await driver.setVipState({ hold: false }));
        // Lets the used ready shell be replaced (a timer) before the next round fires it.
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    } finally {
      await driver.close();
    }
    return problems;
  }

  // --- NetworkDriver ---------------------------------------------------------

  /**
   * A release answers as soon as this node is silent for the VIPs (the
   * fence's lease is gone), so that the caller can hand the role over while
   * the addresses are still being removed; the next call waits for that, and
   * a failure to remove them is reported as a `release-incomplete` event.
   */
  setVipState(desired: DesiredVipState): Promise<DriverResult> {
    const calledAtMs = this.clock();
    if (desired.hold) return this.ops.run(() => this.hold(desired, calledAtMs));
    return new Promise((resolve, reject) => {
      let answered = false;
      const answer = (result: DriverResult): void => {
        answered = true;
        resolve(result);
      };
      this.ops.run(() => this.release(answer)).then(
        (result) => {
          if (!answered) answer(result);
          else if (!result.ok) this.onEvent({ type: 'release-incomplete', detail: result.error });
        },
        (error: unknown) => {
          if (!answered) reject(error);
          else this.onEvent({ type: 'release-incomplete', detail: error instanceof Error ? error.message : String(error) });
        },
      )
        // An event listener that throws must not become an unhandled rejection.
        .catch(() => undefined);
    });
  }

  announce(vips: readonly VipSettings[], epoch: number): Promise<DriverResult> {
    return this.ops.run(async () => {
      if (this.held === null || this.held.epoch !== epoch) return fail(`not announcing epoch ${epoch}: this node does not hold it`);
      const resolved = this.resolve(vips);
      if (!resolved.ok) return resolved;
      const error = this.announcer.start(resolved.entries);
      return error === null ? { ok: true } : fail(error);
    });
  }

  applyPolicy(ruleset: string, revision: number): Promise<DriverResult> {
    return this.policyOps.run(async () => {
      const previous = await this.policyTables();
      const built = this.buildPolicy(ruleset, previous, revision);
      if (!built.ok) return built;
      const checked = await this.runNft(['-c', '-f', '-'], built.text);
      if (!checked.ok) return fail(`policy revision ${revision} refused by nft -c; the previous policy stays: ${checked.error}`);
      const applied = await this.runNft(['-f', '-'], built.text);
      if (!applied.ok) return fail(`policy revision ${revision} failed to apply; the previous policy stays: ${applied.error}`);
      this.previousPolicyTables = built.tables;
      return { ok: true };
    });
  }

  /** Validates a ruleset as applyPolicy would, without changing anything (for the API, before commit). */
  checkPolicy(ruleset: string): Promise<DriverResult> {
    return this.policyOps.run(async () => {
      const built = this.buildPolicy(ruleset, await this.policyTables(), 0);
      if (!built.ok) return built;
      const checked = await this.runNft(['-c', '-f', '-'], built.text);
      return checked.ok ? { ok: true } : fail(checked.error);
    });
  }

  /** Read-only: lists the kernel's devices once (`ip -j link show`), outside the serial chain. */
  async checkDevices(devices: readonly string[]): Promise<Readonly<Record<string, string | null>>> {
    const argv = [this.paths.ip, '-j', 'link', 'show'];
    const result = await this.runner.run(argv, { timeoutMs: 5000 });
    const names = result.code === 0 ? parseIpLinkJson(result.stdout) : null;
    // Not knowing is not "missing": the caller must not take a failed listing for a host without the device.
    if (names === null) throw new Error(`cannot list the network devices: ${describeFailure(argv, result)}`);
    const out: Record<string, string | null> = {};
    for (const device of devices) out[device] = names.includes(device) ? null : `device "${device}" does not exist on this host`;
    return out;
  }

  reconcile(): Promise<ReconcileReport> {
    return this.ops.run(() => this.reconcileNow());
  }

  close(): Promise<void> {
    return this.ops.run(async () => {
      if (this.closed) return;
      if (this.started) await this.release();
      await this.policyOps.idle();
      this.closed = true;
      this.announcer.close();
      this.nft.close();
      this.ipSession?.close();
    });
  }

  // --- beyond the interface --------------------------------------------------

  /**
   * Before joining: puts the fence in place (no lease: silent for every VIP)
   * and removes any of `vips` the kernel still has, e.g. left by a crash.
   */
  cleanupAtStart(vips: readonly VipSettings[]): Promise<ReconcileReport> {
    return this.ops.run(async () => {
      const resolved = this.resolve(vips);
      if (!resolved.ok) return { repaired: [], errors: [resolved.error], setup: [resolved.error] };
      for (const e of resolved.entries) this.knownVips.set(e.vip.key, e);
      const repaired: string[] = [];
      const errors: string[] = [];
      const setup: string[] = [];
      // The first takeover after a start must not wait for the ip child to start.
      this.ipSession?.warm();
      const installed = await this.installFence([...this.knownVips.values()], null);
      if (installed !== null) errors.push(installed);
      // Read-only, so that the ip child has looked the devices up before a takeover needs them.
      for (const device of new Set([...this.knownVips.values()].map((e) => e.device))) {
        const looked = await this.ipSession?.exec(`link show dev ${device}`);
        if (looked === undefined || looked.ok) continue;
        const line = `VIP device ${device}: ${firstLine(looked.output)}`;
        errors.push(line);
        if (/does not exist/.test(looked.output)) setup.push(line);
      }
      this.started = true;
      this.announcer.arm([...this.knownVips.values()]);
      await this.removeStray(new Set(), repaired, errors);
      return { repaired, errors, setup };
    });
  }

  /** Tells the fence which VIPs exist (settings change), so a standby is silent for them too. */
  configureVips(vips: readonly VipSettings[]): Promise<DriverResult> {
    return this.ops.run(async () => {
      const resolved = this.resolve(vips);
      if (!resolved.ok) return resolved;
      for (const e of resolved.entries) this.knownVips.set(e.vip.key, e);
      const union = this.mergeEntries(resolved.entries, this.held?.entries ?? []);
      this.announcer.arm(union);
      if (this.started && sameKeys(union, this.fenceVips)) return { ok: true };
      const error = await this.installFence(union, this.currentLease());
      return error === null ? { ok: true } : fail(error);
    });
  }

  /** The revision of the policy in force, read from the kernel (null: none applied by hapair). */
  async policyRevision(): Promise<number | null> {
    const result = await this.listRuleset();
    return result.code === 0 ? policyInForce(result.stdout).revision : null;
  }

  /** Epoch held now (lease valid on the driver's clock), or null. */
  holding(): number | null {
    return this.held !== null && this.leaseLeftMs() > 0 ? this.held.epoch : null;
  }

  /** When the lease ends on the driver's clock, or null when nothing is held. */
  leaseExpiresAtMs(): number | null {
    return this.held === null ? null : this.held.expiresAtMs;
  }

  /** Process ids of the shells ready to send a takeover's first gratuitous ARP (tests). */
  readyAnnouncerPids(): number[] {
    return this.announcer.armed?.readyPids() ?? [];
  }

  /** The epoch whose lease lapsed: it will not be held again. */
  lapsed(): number | null {
    return this.lapsedEpoch;
  }

  // --- holding -----------------------------------------------------------------

  private async hold(desired: Extract<DesiredVipState, { hold: true }>, calledAtMs: number): Promise<DriverResult> {
    if (this.closed) return fail('driver is closed');
    const resolved = this.resolve(desired.vips);
    if (!resolved.ok) return resolved;
    if (resolved.entries.length === 0) return this.release();
    const entries = resolved.entries;
    for (const e of entries) this.knownVips.set(e.vip.key, e);
    if (this.lapsedEpoch === desired.epoch && this.held === null) {
      return fail(`lease for epoch ${desired.epoch} lapsed; this node needs a new grant before it holds the VIPs again`);
    }
    if (!this.started) {
      const error = await this.installFence(this.mergeEntries(entries, [...this.knownVips.values()]), null);
      if (error !== null) return fail(error);
      this.started = true;
    }
    const renewing = this.held !== null && this.held.epoch === desired.epoch;
    if (renewing && this.leaseLeftMs() <= 0) return this.lapse(`lease expired on the driver's clock before this renewal`);

    // VIPs the fence does not know yet (settings change): the tables are
    // redefined first, carrying the current lease over.
    const union = this.mergeEntries(entries, this.fenceVips);
    if (!sameKeys(union, this.fenceVips)) {
      const error = await this.installFence(union, this.currentLease());
      if (error !== null) return fail(error);
    }

    const timeoutMs = Math.floor(desired.fenceMs - (this.clock() - calledAtMs));
    if (timeoutMs < MIN_LEASE_MS) return fail(`fence of ${desired.fenceMs} ms is too short to write (minimum ${MIN_LEASE_MS} ms)`);
    const previous = this.held;
    const renewKeys = new Set(renewing && previous !== null ? previous.entries.map((e) => e.vip.key) : []);
    const toRenew = entries.filter((e) => renewKeys.has(e.vip.key));
    const toAdd = entries.filter((e) => !renewKeys.has(e.vip.key));
    const newEpoch = previous === null || previous.epoch !== desired.epoch;
    // A takeover adds its addresses while the lease is written (two children
    // at once): until the lease element exists the fence keeps them silent.
    const early = newEpoch ? entries.filter((e) => !this.placed.has(e.vip.key)).map((e) => ({ e, added: this.addAddress(e) })) : [];
    const sentAtMs = this.clock();
    const result = await this.writeLease(toRenew, toAdd, timeoutMs);
    if (!result.ok) {
      const failed = await this.leaseNotWritten(result.output, previous, renewing, entries, desired, calledAtMs);
      if (failed !== null) {
        // Not held: what was added alongside goes again (the fence kept it silent meanwhile).
        const left: string[] = [];
        for (const { e, added } of early) {
          if ((await added) !== null) continue;
          const error = await this.removeAddress(e, e.vip.prefixLength, e.device);
          if (error !== null) left.push(error);
        }
        return left.length === 0 || failed.ok ? failed : fail(`${failed.error}; ${left.join('; ')}`);
      }
    }
    if (newEpoch) {
      this.placed = new Set();
      this.lapsedEpoch = null;
    }
    this.held = { epoch: desired.epoch, entries, expiresAtMs: sentAtMs + timeoutMs };
    const errors: string[] = [];
    // VIPs dropped from the desired set while holding.
    for (const e of previous?.entries ?? []) {
      if (!entries.some((x) => x.vip.key === e.vip.key)) {
        this.placed.delete(e.vip.key);
        const error = await this.removeAddress(e, e.vip.prefixLength, e.device);
        if (error !== null) errors.push(error);
      }
    }
    for (const e of entries) {
      if (this.placed.has(e.vip.key)) continue;
      const error = await (early.find((x) => x.e.vip.key === e.vip.key)?.added ?? this.addAddress(e));
      if (error === null) this.placed.add(e.vip.key);
      else errors.push(error);
    }
    // Checked on renewals, not on the takeover: the VIPs must not wait for two
    // listings (3-4 ms), and the first renewal, half a heartbeat later, checks;
    // a fence altered just before the takeover is no different from one altered
    // just after it.
    if (this.verifyOnRenewal && renewing && result.ok) {
      const altered = await this.verifyFence();
      if (altered !== null) {
        const restored = await this.installFence(this.fenceVips, this.currentLease());
        if (restored !== null) errors.push(`fence restore failed: ${restored}`);
        else this.noteRepair(`fence restored: ${altered}`);
      }
    }
    return errors.length === 0 ? { ok: true } : fail(errors.join('; '));
  }

  /** A lease write that failed: the result to return, or null when a tampered fence was restored with the lease in it. */
  private async leaseNotWritten(
    output: string,
    previous: Held | null,
    renewing: boolean,
    entries: readonly VipEntry[],
    desired: Extract<DesiredVipState, { hold: true }>,
    calledAtMs: number,
  ): Promise<DriverResult | null> {
    if (!isNotFound(output)) return fail(`fence lease not written: ${firstLine(output)}`);
    // ENOENT: the lease lapsed, or someone removed our table or elements.
    const tampered = await this.tamperedWhileHeld(previous);
    if (tampered === null && !renewing) return fail(`fence lease not written: ${firstLine(output)}`);
    if (tampered === null) return this.lapse(`the kernel lease had lapsed: ${firstLine(output)}`);
    const timeoutMs = Math.floor(desired.fenceMs - (this.clock() - calledAtMs));
    // installFence leaves a lease this short out: the fence would be back, the lease not.
    if (timeoutMs < MIN_LEASE_MS) return fail(`fence tampered (${tampered}) and too little of the lease left to restore it with (${timeoutMs} ms)`);
    const restored = await this.installFence(this.fenceVips, { entries, timeoutMs });
    if (restored !== null) return fail(`fence restore failed: ${restored}`);
    this.noteRepair(`fence restored while holding epoch ${desired.epoch}: ${tampered}`);
    return null;
  }

  private async writeLease(toRenew: readonly VipEntry[], toAdd: readonly VipEntry[], timeoutMs: number) {
    const parts: string[] = [];
    if (toRenew.length > 0) parts.push(leaseCommand(toRenew.map((e) => e.vip), timeoutMs, true));
    if (toAdd.length > 0) parts.push(leaseCommand(toAdd.map((e) => e.vip), timeoutMs, false));
    const result = await this.nft.exec(parts.join('; '));
    this.mayBeLiveFor(timeoutMs);
    if (result.lingering === true) this.lingeringLeaseMs = Math.max(this.lingeringLeaseMs ?? 0, timeoutMs);
    return result;
  }

  /** A lease with this timeout may have been written just now, whatever nft answered (a session killed mid-command may have applied it). */
  private mayBeLiveFor(timeoutMs: number): void {
    this.unsilencedUntilMs = Math.max(this.unsilencedUntilMs, this.clock() + timeoutMs);
  }

  /** Why a failed renewal looks like tampering (tables gone, changed, or elements removed early), or null for a lapse. */
  private async tamperedWhileHeld(previous: Held | null): Promise<string | null> {
    const listing = await this.listFence();
    if (listing === null) return 'the fence tables were missing';
    if (listing.canonical !== this.baseline) return 'the fence tables had been changed';
    if (previous !== null && previous.expiresAtMs - this.clock() > LAPSE_SLACK_MS) {
      return `lease elements were removed ${Math.round(previous.expiresAtMs - this.clock())} ms before they were due to expire`;
    }
    return null;
  }

  private async lapse(detail: string): Promise<DriverResult> {
    const epoch = this.held?.epoch ?? -1;
    this.lapsedEpoch = epoch;
    this.onEvent({ type: 'lease-lapsed', epoch, detail });
    this.noteRepair(`lease for epoch ${epoch} lapsed (${detail}); VIPs removed`);
    await this.release();
    return fail(`lease for epoch ${epoch} lapsed (${detail}); VIPs removed, a new grant is needed`);
  }

  /**
   * Silence first (one transaction; then `silent` is told), then the
   * addresses are tidied away. When nft can neither silence the fence nor
   * put it back without a lease, the release still ends, so that the role
   * can move on (R4), once the node is silent by other means: the last lease
   * it wrote has run out in the kernel (the fence drops the VIPs' traffic,
   * NAT'd replies included, by itself then) and the kernel has none of the
   * VIPs' addresses left on any device (no ARP reply, no local delivery).
   * The wait is at most the fence's timeout. The fence's fault is left to
   * the checks (NETWORK_FAULT).
   */
  private async release(silent?: (result: DriverResult) => void): Promise<DriverResult> {
    this.announcer.stopAll();
    const errors: string[] = [];
    let fenceError: string | null = null;
    // Before the fence step: restoring the fence forgets what was held.
    const held = this.held;
    if (this.started) {
      const r = await this.nft.exec(releaseCommand());
      if (!r.ok) {
        const restored = await this.installFence(this.fenceVips, null);
        if (restored !== null) fenceError = `fence release failed: ${firstLine(r.output)}; restore failed: ${restored}`;
        else this.noteRepair(`fence restored on release: ${firstLine(r.output)}`);
      }
    }
    this.held = null;
    this.placed = new Set();
    // Without a fence the addresses themselves answer: silent only once they are gone.
    if (fenceError === null && this.started) {
      this.unsilencedUntilMs = -Infinity;
      // A late renewal of a flushed lease fails (it deletes the element first): only a live process can still write one.
      if (this.nft.lingering() === 0) this.lingeringLeaseMs = null;
      silent?.({ ok: true });
    }
    if (held !== null) {
      for (const e of held.entries) {
        const error = await this.removeAddress(e, e.vip.prefixLength, e.device);
        if (error !== null) errors.push(error);
      }
    }
    if (fenceError !== null) {
      const lingering = await this.lingeringLease();
      // Timers may fire a little early (whole ms): wait on the driver's clock.
      for (let waitMs = this.unsilencedUntilMs - this.clock(); waitMs > 0; waitMs = this.unsilencedUntilMs - this.clock()) await sleep(Math.ceil(waitMs));
      // Every known VIP on every device, not only those held: none may be left.
      const removed: string[] = [];
      await this.removeStray(new Set(), removed, errors);
      if (errors.length > 0) errors.unshift(fenceError);
      else this.onEvent({ type: 'release-without-fence', detail: `${fenceError}; silent all the same: its last lease has run out and no VIP address is left${lingering}` });
    }
    return errors.length === 0 ? { ok: true } : fail(errors.join('; '));
  }

  /**
   * For a release without the fence: a lease given to an nft that was
   * killed and given up on may be written as late as that process runs. It
   * is waited for a while; the lease is then counted from now (from after
   * its exit if it has exited). What to add to the release's event: why
   * the count may still be short.
   */
  private async lingeringLease(): Promise<string> {
    if (this.lingeringLeaseMs === null) return '';
    for (let waitedMs = 0; this.nft.lingering() > 0 && waitedMs < LINGER_WAIT_MS; waitedMs += LINGER_POLL_MS) await sleep(LINGER_POLL_MS);
    this.mayBeLiveFor(this.lingeringLeaseMs);
    const still = this.nft.lingering();
    if (still === 0) this.lingeringLeaseMs = null;
    return still === 0 ? '' : `; but an nft killed while writing a lease had not exited (${still} such process${still === 1 ? '' : 'es'}): a lease written after this would keep NAT'd traffic of the VIPs flowing through this node until it ran out`;
  }

  // --- reconcile ------------------------------------------------------------

  private async reconcileNow(): Promise<ReconcileReport> {
    const repaired = this.pendingRepairs.splice(0);
    const errors: string[] = [];
    if (this.closed) return { repaired, errors: ['driver is closed'] };
    if (!this.started) {
      const error = await this.installFence([...this.knownVips.values()], null);
      if (error !== null) return { repaired, errors: [error] };
      this.started = true;
    }
    if (this.held !== null && this.leaseLeftMs() <= 0) {
      await this.lapse('lease expired on the driver clock before it was renewed');
      repaired.push(...this.pendingRepairs.splice(0));
    }
    const altered = await this.verifyFence();
    if (altered !== null) {
      const restored = await this.installFence(this.fenceVips, this.currentLease());
      if (restored !== null) errors.push(`fence restore failed: ${restored}`);
      else repaired.push(`fence restored: ${altered}`);
    }
    await this.removeStray(new Set((this.held?.entries ?? []).map((e) => e.vip.key)), repaired, errors);
    return { repaired, errors };
  }

  /** Puts held VIPs back and removes every other known VIP from every device. */
  private async removeStray(keep: ReadonlySet<string>, repaired: string[], errors: string[]): Promise<void> {
    const kernel = await this.kernelAddresses();
    if (kernel === null) {
      errors.push('cannot read addresses (ip -j addr show)');
      return;
    }
    for (const e of this.held?.entries ?? []) {
      if (kernel.some((k) => k.key === e.vip.key && k.device === e.device)) continue;
      const error = await this.addAddress(e);
      if (error === null) {
        this.placed.add(e.vip.key);
        repaired.push(`VIP ${e.settings.address} was missing on ${e.device}: added back`);
        this.onEvent({ type: 'vip-repaired', detail: `${e.settings.address} added back on ${e.device}` });
      } else errors.push(error);
    }
    for (const k of kernel) {
      const known = this.knownVips.get(k.key);
      if (known === undefined) continue;
      const wanted = keep.has(k.key) && this.held?.entries.some((e) => e.vip.key === k.key && e.device === k.device) === true;
      if (wanted) continue;
      const error = await this.removeAddress(known, k.prefixLength, k.device);
      if (error === null) {
        repaired.push(`VIP ${known.vip.address} was on ${k.device} without the lease: removed`);
        this.onEvent({ type: 'vip-repaired', detail: `${known.vip.address} removed from ${k.device}` });
      } else errors.push(error);
    }
  }

  // --- fence tables -----------------------------------------------------------

  /** Replaces both fence tables (one transaction) and records the baseline listing. */
  private async installFence(entries: readonly VipEntry[], lease: { entries: readonly VipEntry[]; timeoutMs: number } | null): Promise<string | null> {
    const leaseArg = lease !== null && lease.timeoutMs >= MIN_LEASE_MS ? { vips: lease.entries.map((e) => e.vip), timeoutMs: lease.timeoutMs } : null;
    const script = fenceScript(
      entries.map((e) => e.vip),
      leaseArg,
    );
    const applied = await this.runNft(['-f', '-'], script);
    if (leaseArg !== null) this.mayBeLiveFor(leaseArg.timeoutMs);
    if (!applied.ok) return `cannot install the fence tables: ${applied.error}`;
    if (leaseArg === null && this.held !== null) {
      // A repair that could not carry the lease over leaves the node silent.
      this.held = null;
      this.placed = new Set();
    }
    this.fenceVips = [...entries];
    const listing = await this.listFence();
    if (listing === null) return 'the fence tables were installed but cannot be listed';
    this.baseline = listing.canonical;
    return null;
  }

  /** Null when intact (structure as installed, lease elements as held), else what differs. */
  private async verifyFence(): Promise<string | null> {
    const listing = await this.listFence();
    if (listing === null) return 'the fence tables were missing';
    if (listing.canonical !== this.baseline) return 'the fence tables had been changed';
    if (this.held !== null && this.leaseLeftMs() > LAPSE_SLACK_MS) {
      const missing = expectedLeaseKeys(this.held.entries.map((e) => e.vip)).filter((k) => !listing.leases.has(k));
      if (missing.length > 0) return `lease elements were missing: ${missing.join(', ')}`;
    }
    return null;
  }

  private async listFence(): Promise<FenceListing | null> {
    const [inet, arp] = listCommands() as [string, string];
    if (this.nft instanceof InteractiveNft) {
      const a = await this.nft.exec(inet);
      const b = a.ok ? await this.nft.exec(arp) : a;
      return a.ok && b.ok ? parseFenceListing(a.output, b.output) : null;
    }
    const a = await this.runner.run([this.paths.nft, '-j', ...inet.split(' ')], { timeoutMs: 5000 });
    const b = await this.runner.run([this.paths.nft, '-j', ...arp.split(' ')], { timeoutMs: 5000 });
    return a.code === 0 && b.code === 0 ? parseFenceListing(a.stdout, b.stdout) : null;
  }

  private currentLease(): { entries: readonly VipEntry[]; timeoutMs: number } | null {
    if (this.held === null) return null;
    return { entries: this.held.entries, timeoutMs: Math.floor(this.leaseLeftMs()) };
  }

  private leaseLeftMs(): number {
    return this.held === null ? 0 : this.held.expiresAtMs - this.clock();
  }

  // --- policy ------------------------------------------------------------------

  private buildPolicy(ruleset: string, previous: readonly TableRef[], revision: number) {
    const parsed = parsePolicy(ruleset);
    if (!parsed.ok) return fail(parsed.error);
    return { ok: true as const, text: policyTransaction(ruleset, parsed.tables, previous, revision), tables: parsed.tables };
  }

  /** Tables of the policy in force: stamped ones in the kernel plus what this process applied. */
  private async policyTables(): Promise<TableRef[]> {
    const result = await this.listRuleset();
    const inKernel = result.code === 0 ? policyInForce(result.stdout).tables : [];
    const all = new Map<string, TableRef>();
    for (const t of [...inKernel, ...this.previousPolicyTables]) all.set(`${t.family} ${t.name}`, t);
    return [...all.values()];
  }

  /**
   * The whole ruleset (sets' elements left out), to find the policy's
   * stamped tables. A policy of the largest size lists as more than the
   * default output limit (nft adds each counter's values), and a table cut
   * off would be left behind by the next load: the limit here is larger.
   */
  private listRuleset() {
    return this.runner.run([this.paths.nft, '-t', 'list', 'ruleset'], { timeoutMs: 10_000, maxOutputChars: RULESET_LISTING_MAX_CHARS });
  }

  // --- commands --------------------------------------------------------------

  private async runNft(args: readonly string[], input: string): Promise<DriverResult> {
    const argv = [this.paths.nft, ...args];
    const result = await this.runner.run(argv, { input, timeoutMs: 10_000 });
    if (result.code === 0 && result.failure === null) return { ok: true };
    const text = (result.stderr || result.stdout).trim();
    return fail(text === '' ? describeFailure(argv, result) : text.split('\n').slice(0, 6).join(' | '));
  }

  private async kernelAddresses(): Promise<KernelAddress[] | null> {
    const result = await this.runner.run([this.paths.ip, '-j', 'addr', 'show'], { timeoutMs: 5000 });
    return result.code === 0 ? parseIpAddrJson(result.stdout) : null;
  }

  private addAddress(e: VipEntry): Promise<string | null> {
    return this.changeAddress(addArgs(e.vip, e.device), alreadyPresent);
  }

  private removeAddress(e: VipEntry, prefixLength: number, device: string): Promise<string | null> {
    return this.changeAddress(delArgs(e.vip, prefixLength, device), alreadyAbsent);
  }

  /** One `ip addr` change; an answer saying it was already so is success. Returns the error, or null. */
  private async changeAddress(args: readonly string[], alreadyDone: (output: string) => boolean): Promise<string | null> {
    if (this.ipSession !== null) {
      const line = batchLine(args);
      const answer = await this.ipSession.exec(line);
      return answer.ok || alreadyDone(answer.output) ? null : `ip ${line}: ${firstLine(answer.output)}`;
    }
    const argv = [this.paths.ip, ...args];
    const result = await this.runner.run(argv, { timeoutMs: 5000 });
    if (result.code === 0 || alreadyDone(result.stderr)) return null;
    return describeFailure(argv, result);
  }

  // --- helpers -------------------------------------------------------------------

  private resolve(vips: readonly VipSettings[]): { ok: true; entries: VipEntry[] } | { ok: false; error: string } {
    const entries: VipEntry[] = [];
    for (const settings of vips) {
      const parsed = parseVip(settings.address);
      if (!parsed.ok) return fail(`VIP ${parsed.error}`);
      const device = this.interfaces[settings.interface];
      if (device === undefined) {
        return fail(`VIP ${settings.address}: interface "${settings.interface}" is not mapped to a device in this node's config (network.interfaces)`);
      }
      entries.push({ settings, vip: parsed.vip, device });
    }
    return { ok: true, entries };
  }

  private mergeEntries(a: readonly VipEntry[], b: readonly VipEntry[]): VipEntry[] {
    const map = new Map<string, VipEntry>();
    for (const e of [...b, ...a]) map.set(e.vip.key, e);
    return [...map.values()].sort((x, y) => (x.vip.key < y.vip.key ? -1 : 1));
  }

  private noteRepair(line: string): void {
    this.onEvent({ type: 'fence-restored', detail: line });
    this.pendingRepairs.push(line);
    if (this.pendingRepairs.length > MAX_PENDING_REPAIRS) this.pendingRepairs.shift();
  }
}

/** Runs operations one after another, each once the one before has settled, whatever its outcome. */
class OneAtATime {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T>): Promise<T> {
    const next = this.tail.then(op, op);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Settles once everything queued so far has. */
  idle(): Promise<unknown> {
    return this.tail;
  }
}

/**
 * Validates a policy ruleset without a driver (the API, before it commits a
 * new revision): hapair's own rules (no `flush ruleset`, no `include`, no
 * fence tables), then `nft -c` on the exact transaction that would be
 * applied. `nft -c` needs CAP_NET_ADMIN; `nft: false` runs only the first part.
 */
export async function checkPolicy(
  ruleset: string,
  options: { readonly runner?: CommandRunner; readonly nftPath?: string; readonly nft?: boolean } = {},
): Promise<DriverResult> {
  const parsed = parsePolicy(ruleset);
  if (!parsed.ok) return fail(parsed.error);
  if (options.nft === false) return { ok: true };
  const runner = options.runner ?? new SystemRunner();
  const argv = [options.nftPath ?? 'nft', '-c', '-f', '-'];
  const result = await runner.run(argv, { input: policyTransaction(ruleset, parsed.tables, [], 0), timeoutMs: 10_000 });
  if (result.code === 0 && result.failure === null) return { ok: true };
  const text = (result.stderr || result.stdout).trim();
  return fail(text === '' ? describeFailure(argv, result) : text.split('\n').slice(0, 6).join(' | '));
}

function sameKeys(a: readonly VipEntry[], b: readonly VipEntry[]): boolean {
  if (a.length !== b.length) return false;
  const keys = new Set(b.map((e) => `${e.vip.key} ${e.device}`));
  return a.every((e) => keys.has(`${e.vip.key} ${e.device}`));
}

function fail(error: string): { ok: false; error: string } {
  assert(error.length > 0, 'an error result needs a sentence');
  return { ok: false, error };
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
