/**
 * Human output of the CLI. `formatStatus` reads like `pcs status`: the
 * cluster, who is active since when and why, the members' state, and every
 * condition, loudest first.
 */
import type { AuditEntry, BackupInfo, Condition, MemberStatus, StatusView } from '../api/schemas.js';

export interface Style {
  readonly color: boolean;
}

const ANSI = { red: 31, yellow: 33, green: 32, cyan: 36, bold: 1, dim: 2 } as const;
type Paint = keyof typeof ANSI;

function paint(style: Style, text: string, ...how: Paint[]): string {
  if (!style.color || how.length === 0) return text;
  return `${how.map((h) => `\u001b[${ANSI[h]}m`).join('')}${text}\u001b[0m`;
}

const SEVERITY_ORDER: Record<string, number> = { critical: 0, warning: 1, info: 2 };
const SEVERITY_PAINT: Record<string, Paint[]> = { critical: ['red', 'bold'], warning: ['yellow', 'bold'], info: ['cyan'] };
const HEALTH_PAINT: Record<string, Paint[]> = { healthy: ['green'], degraded: ['yellow'], failed: ['red', 'bold'], unknown: ['dim'] };

/** `2m 5s ago` style age of an ISO time; `now` is injected for tests. */
export function age(iso: string, nowMs: number): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return 'unknown time';
  let s = Math.max(0, Math.round((nowMs - then) / 1000));
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = d > 0 ? [`${d}d`, `${h}h`] : h > 0 ? [`${h}h`, `${m}m`] : m > 0 ? [`${m}m`, `${s}s`] : [`${s}s`];
  return `${parts.join(' ')} ago`;
}

/** Columns padded to the widest cell; `cells` may carry ANSI codes, so widths come from `plain`. */
function table(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<{ plain: string; shown: string }>>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.plain.length ?? 0)));
  const line = (cells: ReadonlyArray<{ plain: string; shown: string }>) =>
    `  ${cells.map((c, i) => (i === cells.length - 1 ? c.shown : c.shown + ' '.repeat((widths[i] ?? 0) - c.plain.length))).join('  ')}`.trimEnd();
  return [line(header.map((h) => ({ plain: h, shown: h }))), ...rows.map(line)];
}

function cell(plain: string, shown = plain): { plain: string; shown: string } {
  return { plain, shown };
}

export function formatStatus(s: StatusView, style: Style, nowMs: number): string {
  const out: string[] = [];
  const leader = s.leader === null ? paint(style, 'NONE (no quorum?)', 'red', 'bold') : `${s.leader} (term ${s.term})`;
  out.push(`Cluster: ${paint(style, s.cluster, 'bold')}`);
  out.push(`  answered by ${s.node}; leader ${leader}; config revision ${s.configRevision}${s.policyRevision === undefined ? '' : `, policy revision ${s.policyRevision}`}${s.mode === undefined ? '' : `; mode ${s.mode}`}`);
  const fresh = s.read.linearizable
    ? 'linearizable read'
    : `local read at index ${s.read.appliedIndex}, leader last heard ${s.read.leaderContactMs === null ? 'never' : `${s.read.leaderContactMs} ms ago`}`;
  out.push(`  ${paint(style, fresh, 'dim')}`);
  out.push('');
  if (s.active === null) {
    out.push(`Active: ${paint(style, 'NONE - no node holds the active role, the VIPs are down', 'red', 'bold')}`);
  } else {
    const a = s.active;
    out.push(`Active: ${paint(style, a.node, 'green', 'bold')} since ${a.since} (${age(a.since, nowMs)}), epoch ${a.epoch}, reason: ${a.reason}`);
  }
  out.push('');

  const leaderApplied = s.members.find((m) => m.id === s.leader)?.appliedIndex;
  out.push(`Members (${s.members.length}):`);
  out.push(
    ...table(
      ['NODE', 'KIND', 'ROLE', 'REACHABLE', 'HEALTH', 'VERSION', 'APPLIED', 'LAG', 'MAINTENANCE'],
      s.members.map((m) => memberRow(m, s, leaderApplied, style)),
    ),
  );
  out.push('');

  const conditions = [...s.conditions].sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 3) - (SEVERITY_ORDER[b.severity] ?? 3));
  if (conditions.length === 0) {
    out.push(`Conditions: ${paint(style, 'none, all requirements met', 'green')}`);
  } else {
    out.push(`Conditions (${conditions.length}):`);
    out.push(...conditions.map((c) => formatCondition(c, style)));
  }
  return `${out.join('\n')}\n`;
}

function memberRow(m: MemberStatus, s: StatusView, leaderApplied: number | undefined, style: Style) {
  const marks = `${m.id}${m.id === s.leader ? ' *' : ''}`;
  const role = m.role === 'active' ? cell(m.role, paint(style, m.role, 'green', 'bold')) : cell(m.role);
  const reach = m.reachable ? cell('yes') : cell('NO', paint(style, 'NO', 'red', 'bold'));
  const health = cell(m.health, paint(style, m.health, ...(HEALTH_PAINT[m.health] ?? [])));
  const lag = leaderApplied === undefined ? '-' : String(Math.max(0, leaderApplied - m.appliedIndex));
  const maintenance = m.maintenance ? cell('ON', paint(style, 'ON', 'yellow', 'bold')) : cell('off');
  return [cell(marks), cell(m.kind), role, reach, health, cell(m.version ?? '-'), cell(String(m.appliedIndex)), cell(lag), maintenance];
}

export function formatCondition(c: Condition, style: Style): string {
  const label = c.severity.toUpperCase().padEnd(8);
  const where = c.node === undefined || c.node === null ? '' : ` [${c.node}]`;
  return `  ${paint(style, label, ...(SEVERITY_PAINT[c.severity] ?? []))}  ${paint(style, c.code, 'bold')}${where}: ${c.message}`;
}

export function formatBackups(backups: readonly BackupInfo[]): string {
  if (backups.length === 0) return 'no backups\n';
  const rows = backups.map((b) =>
    [b.id, b.createdAt, b.createdBy, String(b.configRevision), `${b.sizeBytes} B`, b.comment].map((x) => cell(x)),
  );
  return `${table(['ID', 'CREATED', 'BY', 'CONFIG REV', 'SIZE', 'COMMENT'], rows).join('\n')}\n`;
}

export function formatAudit(entries: readonly AuditEntry[]): string {
  if (entries.length === 0) return 'no audit entries\n';
  const rows = entries.map((e) =>
    [String(e.index), e.at, e.actor, e.action, e.outcome ?? '', e.detail].map((x) => cell(x)),
  );
  return `${table(['INDEX', 'AT', 'ACTOR', 'ACTION', 'OUTCOME', 'DETAIL'], rows).join('\n')}\n`;
}
