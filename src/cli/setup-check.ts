/**
 * The setup check the seed asks for after forming or dissolving the pair
 * (R7), run by `hapair verify` and at the end of `init --settings`, `join`
 * and `leave`: every member answers on its own API (GET /v1/node) with the
 * settings and policy it applied and its own check of its VIPs' interfaces;
 * this module compares them with the leader's and collects every problem.
 * The nodes take a moment to converge after a change, so it polls (bounded)
 * until the cluster passes or the time is up.
 */
import { performance } from 'node:perf_hooks';
import type { NodeInfo, StatusView } from '../api/schemas.js';
import { describeFetchError } from '../api/fetch-error.js';
import { ApiError, ApiUnreachableError, type ApiClient } from './client.js';

export interface MemberCheck {
  readonly id: string;
  readonly kind: 'data' | 'witness';
  /** What the member answered, or null when it could not be asked. */
  readonly info: NodeInfo | null;
  readonly problems: readonly string[];
}

export interface SetupReport {
  readonly ok: boolean;
  readonly cluster: string;
  readonly leader: string | null;
  readonly configRevision: number | null;
  readonly policyRevision: number | null;
  readonly members: readonly MemberCheck[];
  /** Every problem, one sentence each (also per member above). */
  readonly problems: readonly string[];
}

const POLL_MS = 250;

/** Checks until the cluster passes or `waitMs` is over; returns the last report either way. */
export async function verifySetup(cluster: ApiClient, waitMs: number): Promise<SetupReport> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    try {
      const report = await checkOnce(cluster);
      if (report.ok || performance.now() >= deadline) return report;
    } catch (error) {
      // The node at --api may be restarting: it counts as "not yet" until the time is up.
      if (performance.now() >= deadline) throw error;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function checkOnce(cluster: ApiClient): Promise<SetupReport> {
  const status = await cluster.status();
  const problems: string[] = [];
  const infos = new Map<string, NodeInfo | string>();
  await Promise.all(
    status.members.map(async (m) => {
      if (m.api === undefined || m.api === null) {
        infos.set(m.id, `${m.id} has not registered its API address yet (is its agent running?)`);
        return;
      }
      try {
        infos.set(m.id, await cluster.forNode(m.api).nodeInfo());
      } catch (error) {
        infos.set(m.id, `cannot ask ${m.id} at ${m.api}: ${describe(error)}`);
      }
    }),
  );
  const leaderInfo = status.leader === null ? undefined : infos.get(status.leader);
  const reference = typeof leaderInfo === 'object' ? leaderInfo : null;
  if (status.leader === null) problems.push(`${status.node} knows no Raft leader: the cluster has no quorum`);
  const members = status.members.map((m): MemberCheck => {
    const got = infos.get(m.id);
    const mine: string[] = [];
    if (typeof got === 'string' || got === undefined) {
      mine.push(got ?? `${m.id} was not asked`);
      problems.push(...mine);
      return { id: m.id, kind: m.kind, info: null, problems: mine };
    }
    mine.push(...compare(m, got, reference, status));
    problems.push(...mine);
    return { id: m.id, kind: m.kind, info: got, problems: mine };
  });
  return {
    ok: problems.length === 0,
    cluster: status.cluster,
    leader: status.leader,
    configRevision: reference?.configRevision ?? null,
    policyRevision: reference?.policyRevision ?? null,
    members,
    problems,
  };
}

function compare(member: StatusView['members'][number], info: NodeInfo, leader: NodeInfo | null, status: StatusView): string[] {
  const out: string[] = [];
  const id = member.id;
  if (info.node !== id) return [`the API registered for ${id} answers as ${info.node}: check api.advertise in ${id}'s node config`];
  if (info.cluster !== status.cluster) out.push(`${id}'s node config names cluster "${info.cluster}", not "${status.cluster}"`);
  if (info.membership !== 'voter') out.push(`${id} is not a voter yet (${info.membership === 'learner' ? 'still a learner' : 'not in the membership it knows'})`);
  if (!member.reachable) out.push(`${status.node} cannot reach ${id} over the peer network`);
  out.push(...info.check.problems);
  if (leader === null) return out;
  if (info.version !== leader.version) out.push(`${id} runs version ${info.version}, the leader ${leader.node} runs ${leader.version} (R5: update it)`);
  out.push(...stateDifferences(info, leader));
  if (info.kind === 'data' && leader.policyRevision > 0 && info.appliedPolicyRevision !== leader.policyRevision) {
    out.push(`${id} has not loaded policy revision ${leader.policyRevision} into its network layer (it runs revision ${info.appliedPolicyRevision})`);
  }
  return out;
}

/** Where a node's replicated settings and policy differ from the leader's (none: it holds the leader's state). */
export function stateDifferences(info: NodeInfo, leader: NodeInfo): string[] {
  const out: string[] = [];
  const id = info.node;
  if (info.configRevision !== leader.configRevision || info.settingsSha256 !== leader.settingsSha256) {
    out.push(`${id} has settings revision ${info.configRevision} (sha256 ${info.settingsSha256.slice(0, 12)}), the leader ${leader.configRevision} (${leader.settingsSha256.slice(0, 12)})`);
  }
  if (info.policyRevision !== leader.policyRevision || info.policySha256 !== leader.policySha256) {
    out.push(`${id} has policy revision ${info.policyRevision} (sha256 ${info.policySha256.slice(0, 12)}), the leader ${leader.policyRevision} (${leader.policySha256.slice(0, 12)})`);
  }
  return out;
}

function describe(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  if (error instanceof ApiUnreachableError) return error.message;
  return describeFetchError(error);
}

/** The report for people: one line per member, then the problems. */
export function formatSetupReport(r: SetupReport): string {
  const lines: string[] = [];
  lines.push(
    r.ok
      ? `setup check passed: ${r.members.length} member${r.members.length === 1 ? '' : 's'} of ${r.cluster} hold settings revision ${r.configRevision ?? '?'} and policy revision ${r.policyRevision ?? '?'}, every VIP's interface maps to a device`
      : `setup check FAILED for ${r.cluster}:`,
  );
  for (const m of r.members) {
    const i = m.info;
    const facts =
      i === null
        ? 'not answering'
        : [
            `version ${i.version}`,
            `${i.membership}`,
            `settings r${i.configRevision}`,
            `policy r${i.policyRevision}${i.kind === 'data' ? ` (loaded r${i.appliedPolicyRevision})` : ''}`,
            ...(i.check.vips.length === 0 ? [] : [`VIPs ${i.check.vips.map((v) => `${v.address} on ${v.interface} -> ${v.device ?? 'unmapped'}`).join(', ')}`]),
          ].join(', ');
    lines.push(`  ${m.id.padEnd(10)} ${m.kind.padEnd(8)} ${m.problems.length === 0 ? 'ok ' : 'BAD'}  ${facts}`);
  }
  for (const p of r.problems) lines.push(`  - ${p}`);
  return `${lines.join('\n')}\n`;
}
