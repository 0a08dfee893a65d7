/**
 * Cluster settings: the replicated, cluster-wide configuration (MISSION.md,
 * "cluster settings"). Validation is two passes: a structural one against the
 * TypeBox schema (with our own messages, so an operator reads
 * `failback.holdDownMs: must be an integer >= 0, got "5s"` rather than a JSON
 * pointer), then semantic checks on the normalised value (addresses,
 * duplicates, relations between timers, the preferred member).
 *
 * Every default lives in DEFAULTS below and nowhere else.
 */
import { isIP } from 'node:net';
import { ipv6Groups } from '../util/ipv6.js';
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { checkHostPort } from '../config/address.js';
import type { NodeId } from '../raft/types.js';
import { AssertionError } from '../util/assert.js';

// ---------------------------------------------------------------------------
// The normalised shape (what the state machine stores: every key present).

export const MONITOR_KINDS = ['ping', 'tcp', 'http', 'process', 'systemd', 'command', 'carrier'] as const;
export type MonitorKind = (typeof MONITOR_KINDS)[number];

interface MonitorBase {
  readonly name: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failed probes before the monitor is down. */
  readonly failAfter: number;
  /** Consecutive good probes before a down monitor is up again. */
  readonly recoverAfter: number;
  /**
   * The data node this monitor watches (R10), or null for one of this
   * node's own resources. A monitor `of` a node runs on every other node,
   * never on that node itself, and does not count toward the health of the
   * node that runs it: down means "I cannot reach that node on this path",
   * which the role logic reads as a guard (docs/role.md, guardedTakeoverRule).
   */
  readonly of: NodeId | null;
}

export type MonitorSettings =
  | (MonitorBase & { readonly kind: 'ping'; readonly target: string })
  | (MonitorBase & { readonly kind: 'tcp'; readonly target: string })
  | (MonitorBase & { readonly kind: 'http'; readonly url: string; readonly expectStatus: number })
  | (MonitorBase & { readonly kind: 'process'; readonly pidFile: string })
  | (MonitorBase & { readonly kind: 'systemd'; readonly unit: string })
  | (MonitorBase & { readonly kind: 'command'; readonly command: string })
  | (MonitorBase & { readonly kind: 'carrier'; readonly interface: string });

export const HOOK_EVENTS = ['active', 'standby', 'any'] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

export interface HookSettings {
  /** Role this node enters that runs the hook; `any` runs on every role change. */
  readonly on: HookEvent;
  readonly command: string;
  readonly timeoutMs: number;
}

export interface VipSettings {
  /** Address with prefix length: `10.0.0.1/24` or `2001:db8::1/64`. */
  readonly address: string;
  /** Logical interface name; each node maps it to a device in its node config. */
  readonly interface: string;
}

export interface ClusterSettings {
  readonly vips: readonly VipSettings[];
  readonly preferred: NodeId | null;
  readonly failback: { readonly auto: boolean; readonly holdDownMs: number };
  readonly timers: { readonly heartbeatMs: number; readonly electionTimeoutMs: number };
  readonly monitors: readonly MonitorSettings[];
  readonly hooks: readonly HookSettings[];
  /** More than maxMoves role moves within windowMs stop automatic moves (failback) until cleared. */
  readonly flapDamping: { readonly maxMoves: number; readonly windowMs: number };
}

/** The monitors a node runs: all but those that watch the node itself (`of` it). */
export function monitorsRunBy(monitors: readonly MonitorSettings[], node: NodeId): MonitorSettings[] {
  return monitors.filter((m) => m.of !== node);
}

/** Names of the monitors of a node's own resources (not `of` another node): the ones its health is made of. */
export function ownMonitorNames(monitors: readonly MonitorSettings[]): Set<string> {
  return new Set(monitors.filter((m) => m.of === null).map((m) => m.name));
}

// ---------------------------------------------------------------------------
// Defaults: the one place.

export const DEFAULTS = {
  preferred: null,
  failback: { auto: true, holdDownMs: 5000 },
  timers: { heartbeatMs: 100, electionTimeoutMs: 800 },
  flapDamping: { maxMoves: 3, windowMs: 600_000 },
  monitor: { intervalMs: 1000, failAfter: 3, recoverAfter: 3, expectStatus: 200 },
  hook: { timeoutMs: 10_000 },
} as const;

/**
 * Named timer profiles (docs/raft-timing.md, "Timer profiles"): `default`
 * is what a cluster runs without `timers` in its settings (a dead active is
 * detected after 820-900 ms); `fast` detects it after 120-150 ms at the
 * price of failing over on any stall of the active longer than about 80 ms.
 */
export const TIMER_PROFILES = {
  default: DEFAULTS.timers,
  fast: { heartbeatMs: 20, electionTimeoutMs: 100 },
} as const;

/** Timeout of a monitor probe when not given: the interval, capped at 5 s. */
function defaultMonitorTimeoutMs(intervalMs: number): number {
  return Math.min(intervalMs, 5000);
}

export const DEFAULT_SETTINGS: ClusterSettings = {
  vips: [],
  preferred: DEFAULTS.preferred,
  failback: { ...DEFAULTS.failback },
  timers: { ...DEFAULTS.timers },
  monitors: [],
  hooks: [],
  flapDamping: { ...DEFAULTS.flapDamping },
};

/** Bounds on list sizes: the state machine stores settings in every snapshot. */
export const SETTINGS_LIMITS = { vips: 32, monitors: 64, hooks: 16, textChars: 1024 } as const;

// ---------------------------------------------------------------------------
// The input schema (what an operator writes; most keys optional).

const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$';
const NAME_MESSAGE = 'must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit';

const Name = Type.String({ pattern: NAME_PATTERN, patternMessage: NAME_MESSAGE });
const Text = Type.String({ minLength: 1, maxLength: SETTINGS_LIMITS.textChars });
const Ms = (minimum: number, maximum?: number) =>
  Type.Integer(maximum === undefined ? { minimum } : { minimum, maximum });

const monitorCommon = {
  name: Name,
  intervalMs: Type.Optional(Ms(10, 3_600_000)),
  timeoutMs: Type.Optional(Ms(1, 3_600_000)),
  failAfter: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  recoverAfter: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  of: Type.Optional(Type.Union([Name, Type.Null()])),
};

const monitorSchema = (kind: MonitorKind, fields: Record<string, TSchema>) =>
  Type.Object({ kind: Type.Literal(kind), ...monitorCommon, ...fields }, { additionalProperties: false });

export const MonitorSchema = Type.Union([
  monitorSchema('ping', { target: Text }),
  monitorSchema('tcp', { target: Text }),
  monitorSchema('http', { url: Text, expectStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })) }),
  monitorSchema('process', { pidFile: Text }),
  monitorSchema('systemd', { unit: Text }),
  monitorSchema('command', { command: Text }),
  monitorSchema('carrier', { interface: Name }),
]);

export const ClusterSettingsInputSchema = Type.Object(
  {
    vips: Type.Optional(
      Type.Array(Type.Object({ address: Text, interface: Name }, { additionalProperties: false }), {
        maxItems: SETTINGS_LIMITS.vips,
      }),
    ),
    preferred: Type.Optional(Type.Union([Name, Type.Null()])),
    failback: Type.Optional(
      Type.Object(
        { auto: Type.Optional(Type.Boolean()), holdDownMs: Type.Optional(Ms(0)) },
        { additionalProperties: false },
      ),
    ),
    timers: Type.Optional(
      Type.Object(
        { heartbeatMs: Type.Optional(Ms(10, 60_000)), electionTimeoutMs: Type.Optional(Ms(50, 600_000)) },
        { additionalProperties: false },
      ),
    ),
    monitors: Type.Optional(Type.Array(MonitorSchema, { maxItems: SETTINGS_LIMITS.monitors })),
    hooks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            on: Type.Union(HOOK_EVENTS.map((e) => Type.Literal(e))),
            command: Text,
            timeoutMs: Type.Optional(Ms(1, 600_000)),
          },
          { additionalProperties: false },
        ),
        { maxItems: SETTINGS_LIMITS.hooks },
      ),
    ),
    flapDamping: Type.Optional(
      Type.Object(
        { maxMoves: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), windowMs: Type.Optional(Ms(0, 604_800_000)) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------
// Errors.

export interface SettingsError {
  /** Dotted path to the key, e.g. `failback.holdDownMs` or `vips.0.address`; '' for the whole document. */
  readonly path: string;
  readonly message: string;
}

/** One line, in the style of the API's error message: `path: message; path: message`. */
export function formatSettingsErrors(errors: readonly SettingsError[]): string {
  return errors.map((e) => (e.path === '' ? e.message : `${e.path}: ${e.message}`)).join('; ');
}

export type SettingsResult =
  | { readonly ok: true; readonly settings: ClusterSettings }
  | { readonly ok: false; readonly errors: readonly SettingsError[] };

export interface SettingsContext {
  /** Current members; when given, `preferred` and every monitor's `of` must name a data member. */
  readonly members?: readonly { readonly id: NodeId; readonly kind: 'data' | 'witness' }[];
}

/** Validates operator input (JSON or YAML already parsed) and returns the normalised settings. */
export function validateSettings(input: unknown, context: SettingsContext = {}): SettingsResult {
  const structural = checkValue(ClusterSettingsInputSchema, input, []);
  if (structural.length > 0) return { ok: false, errors: structural };
  if (!Value.Check(ClusterSettingsInputSchema, input)) {
    // Our walker accepted what TypeBox refuses: report TypeBox's view rather than let it through.
    const first = Value.Errors(ClusterSettingsInputSchema, input).First();
    const path = first === undefined ? '' : first.path.replace(/^\//, '').replaceAll('/', '.');
    return { ok: false, errors: [{ path, message: first?.message ?? 'invalid' }] };
  }
  const settings = normalizeSettings(input as SettingsInput);
  const semantic = checkSemantics(settings, context);
  if (semantic.length > 0) return { ok: false, errors: semantic };
  return { ok: true, settings };
}

// ---------------------------------------------------------------------------
// Normalisation (fills defaults).

interface SettingsInput {
  vips?: VipSettings[];
  preferred?: string | null;
  failback?: { auto?: boolean; holdDownMs?: number };
  timers?: { heartbeatMs?: number; electionTimeoutMs?: number };
  monitors?: Array<Record<string, unknown> & { kind: MonitorKind; name: string }>;
  hooks?: Array<{ on: HookEvent; command: string; timeoutMs?: number }>;
  flapDamping?: { maxMoves?: number; windowMs?: number };
}

function normalizeSettings(input: SettingsInput): ClusterSettings {
  return {
    vips: (input.vips ?? []).map((v) => ({ address: v.address, interface: v.interface })),
    preferred: input.preferred ?? DEFAULTS.preferred,
    failback: {
      auto: input.failback?.auto ?? DEFAULTS.failback.auto,
      holdDownMs: input.failback?.holdDownMs ?? DEFAULTS.failback.holdDownMs,
    },
    timers: {
      heartbeatMs: input.timers?.heartbeatMs ?? DEFAULTS.timers.heartbeatMs,
      electionTimeoutMs: input.timers?.electionTimeoutMs ?? DEFAULTS.timers.electionTimeoutMs,
    },
    monitors: (input.monitors ?? []).map(normalizeMonitor),
    hooks: (input.hooks ?? []).map((h) => ({
      on: h.on,
      command: h.command,
      timeoutMs: h.timeoutMs ?? DEFAULTS.hook.timeoutMs,
    })),
    flapDamping: {
      maxMoves: input.flapDamping?.maxMoves ?? DEFAULTS.flapDamping.maxMoves,
      windowMs: input.flapDamping?.windowMs ?? DEFAULTS.flapDamping.windowMs,
    },
  };
}

function normalizeMonitor(m: Record<string, unknown> & { kind: MonitorKind; name: string }): MonitorSettings {
  const intervalMs = (m['intervalMs'] as number | undefined) ?? DEFAULTS.monitor.intervalMs;
  const base: MonitorBase = {
    name: m.name,
    intervalMs,
    timeoutMs: (m['timeoutMs'] as number | undefined) ?? defaultMonitorTimeoutMs(intervalMs),
    failAfter: (m['failAfter'] as number | undefined) ?? DEFAULTS.monitor.failAfter,
    recoverAfter: (m['recoverAfter'] as number | undefined) ?? DEFAULTS.monitor.recoverAfter,
    of: (m['of'] as string | null | undefined) ?? null,
  };
  const str = (key: string): string => m[key] as string;
  switch (m.kind) {
    case 'ping':
      return { ...base, kind: 'ping', target: str('target') };
    case 'tcp':
      return { ...base, kind: 'tcp', target: str('target') };
    case 'http':
      return {
        ...base,
        kind: 'http',
        url: str('url'),
        expectStatus: (m['expectStatus'] as number | undefined) ?? DEFAULTS.monitor.expectStatus,
      };
    case 'process':
      return { ...base, kind: 'process', pidFile: str('pidFile') };
    case 'systemd':
      return { ...base, kind: 'systemd', unit: str('unit') };
    case 'command':
      return { ...base, kind: 'command', command: str('command') };
    case 'carrier':
      return { ...base, kind: 'carrier', interface: str('interface') };
  }
}

// ---------------------------------------------------------------------------
// Semantic checks.

function checkSemantics(s: ClusterSettings, context: SettingsContext): SettingsError[] {
  const errors: SettingsError[] = [];
  const seenVips = new Map<string, number>();
  s.vips.forEach((vip, i) => {
    const path = `vips.${i}.address`;
    const parsed = parsePrefix(vip.address);
    if (typeof parsed === 'string') {
      errors.push({ path, message: parsed });
      return;
    }
    const previous = seenVips.get(parsed.key);
    if (previous !== undefined) {
      errors.push({ path, message: `duplicate VIP ${parsed.address} (also vips.${previous}.address)` });
    } else {
      seenVips.set(parsed.key, i);
    }
  });

  const dataMembers = context.members?.filter((m) => m.kind === 'data').map((m) => m.id);
  const notData = (id: string): string | null =>
    dataMembers === undefined || dataMembers.includes(id)
      ? null
      : `"${id}" is not a data member (data members: ${dataMembers.length === 0 ? 'none' : [...dataMembers].sort().join(', ')})`;
  const preferredProblem = s.preferred === null ? null : notData(s.preferred);
  if (preferredProblem !== null) errors.push({ path: 'preferred', message: preferredProblem });

  const minElectionMs = 5 * s.timers.heartbeatMs;
  if (s.timers.electionTimeoutMs < minElectionMs) {
    errors.push({
      path: 'timers.electionTimeoutMs',
      message: `must be at least 5 x timers.heartbeatMs (${minElectionMs}), got ${s.timers.electionTimeoutMs}`,
    });
  }

  const names = new Map<string, number>();
  s.monitors.forEach((m, i) => {
    const previous = names.get(m.name);
    if (previous !== undefined) {
      errors.push({ path: `monitors.${i}.name`, message: `duplicate monitor name "${m.name}" (also monitors.${previous}.name)` });
    } else {
      names.set(m.name, i);
    }
    if (m.timeoutMs > m.intervalMs) {
      errors.push({
        path: `monitors.${i}.timeoutMs`,
        message: `must not exceed intervalMs (${m.intervalMs}), got ${m.timeoutMs}`,
      });
    }
    const problem = checkMonitorTarget(m);
    if (problem !== null) errors.push({ path: `monitors.${i}.${problem.key}`, message: problem.message });
    const ofProblem = m.of === null ? null : notData(m.of);
    if (ofProblem !== null) errors.push({ path: `monitors.${i}.of`, message: ofProblem });
  });
  return errors;
}

function checkMonitorTarget(m: MonitorSettings): { key: string; message: string } | null {
  switch (m.kind) {
    case 'ping':
      return isIP(m.target) === 0
        ? { key: 'target', message: `must be an IPv4 or IPv6 address, got ${JSON.stringify(m.target)}` }
        : null;
    case 'tcp': {
      const problem = checkHostPort(m.target);
      return problem === null ? null : { key: 'target', message: problem };
    }
    case 'http': {
      const url = URL.canParse(m.url) ? new URL(m.url) : null;
      return url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')
        ? { key: 'url', message: `must be an http:// or https:// URL, got ${JSON.stringify(m.url)}` }
        : null;
    }
    case 'process':
      return m.pidFile.startsWith('/')
        ? null
        : { key: 'pidFile', message: `must be an absolute path, got ${JSON.stringify(m.pidFile)}` };
    case 'systemd':
    case 'command':
    case 'carrier':
      return null;
  }
}

export interface ParsedPrefix {
  readonly family: 4 | 6;
  /** The address as written, without the prefix length. */
  readonly address: string;
  readonly prefixLength: number;
  /** Canonical form of the address (IPv6 fully expanded) to compare for duplicates. */
  readonly key: string;
}

/** Parses `address/prefix`; returns a sentence saying what is wrong otherwise. */
export function parsePrefix(text: string): ParsedPrefix | string {
  const slash = text.lastIndexOf('/');
  const example = 'like 10.0.0.1/24 or 2001:db8::1/64';
  if (slash < 0) return `must be an address with a prefix length (${example}), got ${JSON.stringify(text)}`;
  const address = text.slice(0, slash);
  const lengthText = text.slice(slash + 1);
  const family = isIP(address);
  if (family === 0) return `not an IPv4 or IPv6 address: ${JSON.stringify(address)} (${example})`;
  const max = family === 4 ? 32 : 128;
  const prefixLength = /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (!(prefixLength >= 1 && prefixLength <= max)) {
    return `prefix length must be 1-${max} for IPv${family}, got ${JSON.stringify(lengthText)}`;
  }
  const key = family === 4 ? address : ipv6Groups(address).join(':');
  return { family: family === 4 ? 4 : 6, address, prefixLength, key };
}

// ---------------------------------------------------------------------------
// The structural walker: a subset of JSON Schema (what the schemas above use),
// with messages written for operators.

type Schema = TSchema & {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: Schema;
  anyOf?: Schema[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  patternMessage?: string;
};

const MAX_ERRORS = 20;

function checkValue(schema: TSchema, value: unknown, path: readonly string[]): SettingsError[] {
  const errors: SettingsError[] = [];
  walk(schema as Schema, value, path, errors);
  return errors.slice(0, MAX_ERRORS);
}

function walk(schema: Schema, value: unknown, path: readonly string[], errors: SettingsError[]): void {
  if (errors.length >= MAX_ERRORS) return;
  const at = path.join('.');
  const fail = (message: string) => errors.push({ path: at, message });

  if (schema.anyOf !== undefined) {
    walkUnion(schema.anyOf, value, path, errors);
    return;
  }
  if (schema.const !== undefined) {
    if (value !== schema.const) fail(`must be ${JSON.stringify(schema.const)}, got ${show(value)}`);
    return;
  }
  switch (schema.type) {
    case 'null':
      if (value !== null) fail(`must be null, got ${show(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') fail(`must be true or false, got ${show(value)}`);
      return;
    case 'integer':
    case 'number': {
      const noun = schema.type === 'integer' ? 'an integer' : 'a number';
      const ok =
        typeof value === 'number' &&
        Number.isFinite(value) &&
        (schema.type === 'number' || Number.isInteger(value)) &&
        (schema.minimum === undefined || value >= schema.minimum) &&
        (schema.maximum === undefined || value <= schema.maximum);
      if (!ok) fail(`must be ${noun}${rangeText(schema.minimum, schema.maximum)}, got ${show(value)}`);
      return;
    }
    case 'string':
      walkString(schema, value, fail);
      return;
    case 'array':
      walkArray(schema, value, path, errors);
      return;
    case 'object':
      walkObject(schema, value, path, errors);
      return;
    default:
      throw new AssertionError(`settings schema uses an unsupported type ${String(schema.type)} at ${at || '(root)'}`);
  }
}

function walkString(schema: Schema, value: unknown, fail: (message: string) => void): void {
  if (typeof value !== 'string') {
    fail(`must be a string, got ${show(value)}`);
  } else if (schema.minLength !== undefined && value.length < schema.minLength) {
    fail(schema.minLength === 1 ? 'must not be empty' : `must be at least ${schema.minLength} characters long`);
  } else if (schema.maxLength !== undefined && value.length > schema.maxLength) {
    fail(`must be at most ${schema.maxLength} characters long, got ${value.length}`);
  } else if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
    fail(`${schema.patternMessage ?? `must match ${schema.pattern}`}, got ${show(value)}`);
  }
}

function walkArray(schema: Schema, value: unknown, path: readonly string[], errors: SettingsError[]): void {
  const at = path.join('.');
  if (!Array.isArray(value)) {
    errors.push({ path: at, message: `must be a list, got ${show(value)}` });
    return;
  }
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    errors.push({ path: at, message: `must have at most ${schema.maxItems} items, got ${value.length}` });
    return;
  }
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    errors.push({ path: at, message: `must have at least ${schema.minItems} items, got ${value.length}` });
    return;
  }
  const items = schema.items;
  if (items === undefined) return;
  value.forEach((item, i) => walk(items, item, [...path, String(i)], errors));
}

function walkObject(schema: Schema, value: unknown, path: readonly string[], errors: SettingsError[]): void {
  const at = path.join('.');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.push({ path: at, message: `must be a mapping of keys to values, got ${show(value)}` });
    return;
  }
  const properties = schema.properties ?? {};
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (properties[key] === undefined && schema.additionalProperties === false) {
      const hint = closest(key, Object.keys(properties));
      errors.push({
        path: [...path, key].join('.'),
        message: hint === null ? 'unknown key' : `unknown key (did you mean "${hint}"?)`,
      });
    }
  }
  for (const [key, child] of Object.entries(properties)) {
    const present = Object.prototype.hasOwnProperty.call(record, key) && record[key] !== undefined;
    if (!present) {
      if ((schema.required ?? []).includes(key)) errors.push({ path: [...path, key].join('.'), message: 'is required' });
      continue;
    }
    walk(child, record[key], [...path, key], errors);
  }
}

function walkUnion(branches: Schema[], value: unknown, path: readonly string[], errors: SettingsError[]): void {
  const at = path.join('.');
  // Unions of literals: an enumeration.
  if (branches.every((b) => b.const !== undefined)) {
    const allowed = branches.map((b) => b.const);
    if (!allowed.includes(value)) {
      errors.push({ path: at, message: `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${show(value)}` });
    }
    return;
  }
  // Nullable: null or the other branch.
  const nonNull = branches.filter((b) => b.type !== 'null');
  if (nonNull.length === 1 && branches.length === 2) {
    if (value !== null) walk(nonNull[0] as Schema, value, path, errors);
    return;
  }
  // Objects discriminated by `kind`.
  const kinds = branches.map((b) => b.properties?.['kind']?.const);
  if (kinds.every((k) => typeof k === 'string')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      errors.push({ path: at, message: `must be a mapping of keys to values, got ${show(value)}` });
      return;
    }
    const kind = (value as Record<string, unknown>)['kind'];
    const index = kinds.indexOf(kind as string);
    if (kind === undefined) {
      errors.push({ path: [...path, 'kind'].join('.'), message: `is required (one of ${kinds.join(', ')})` });
    } else if (index < 0) {
      errors.push({
        path: [...path, 'kind'].join('.'),
        message: `must be one of ${kinds.map((k) => JSON.stringify(k)).join(', ')}, got ${show(kind)}`,
      });
    } else {
      walk(branches[index] as Schema, value, path, errors);
    }
    return;
  }
  throw new AssertionError(`settings schema uses an unsupported union at ${at || '(root)'}`);
}

function rangeText(minimum: number | undefined, maximum: number | undefined): string {
  if (minimum !== undefined && maximum !== undefined) return ` from ${minimum} to ${maximum}`;
  if (minimum !== undefined) return ` >= ${minimum}`;
  if (maximum !== undefined) return ` <= ${maximum}`;
  return '';
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The known key closest to a typo, if it is close enough to be what was meant. */
function closest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
