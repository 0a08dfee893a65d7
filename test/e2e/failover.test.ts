/**
 * End to end, from a client's point of view (issue 5): real `hapair agent`
 * processes with the `linux` driver in network namespaces, a client sending
 * a UDP datagram to the VIP every 5 ms and recording which host answered.
 * One cluster serves every scenario in order; each scenario first waits
 * until fw1 is active and answering, so a failed one does not hide the rest.
 *
 * Bounds are generous (safety, not speed); the measured outages are printed
 * with t.comment. Speed belongs to `npm run bench -- failover`.
 */
import t, { type Test } from 'tap';
import { ADDR, E2eLab, labUnavailable, now, sleep, until, VIP, type AgentId, type StatusView } from './lab.js';
import { between, describe, hostRuns, interleaving, longestGap, type ProbeRow } from './probe.js';

const reason = await labUnavailable();
if (reason !== null) {
  console.log(`# e2e skipped: ${reason}`);
  t.plan(0, `skipped: ${reason}`);
  process.exit(0);
}

const ELECTION_TIMEOUT_MS = 1000;
/** The kernel fence lapses within the lease, which is shorter than the election timeout; slack for the probe's clock. */
const FENCE_BOUND_MS = ELECTION_TIMEOUT_MS + 100;
const FAILOVER_BOUND_MS = 5000;
const PLANNED_MOVE_BOUND_MS = 3000;
const POST_HEAL_BOUND_MS = 3000;
/** Answers from the new host that count as "it carries the traffic": half a second of probes. */
const STABLE_ANSWERS = 100;

function settings(failbackAuto: boolean): Record<string, unknown> {
  return {
    vips: [{ address: `${VIP}/24`, interface: 'lan' }],
    preferred: 'fw1',
    failback: { auto: failbackAuto, holdDownMs: 500 },
    timers: { heartbeatMs: 100, electionTimeoutMs: ELECTION_TIMEOUT_MS },
    monitors: [],
    // This file moves the role a dozen times in a minute on purpose; damping would (rightly) stop the failbacks.
    flapDamping: { maxMoves: 1000 },
  };
}

const lab = new E2eLab();
t.teardown(() => lab.down());
const measured: string[] = [];

function selfRole(s: StatusView | null): string | null {
  return s?.members.find((m) => m.id === s.node)?.role ?? null;
}

/** The peek probe through one host's MAC ran (enough datagrams) and got no answer at all. */
function assertSilent(t: Test, rows: readonly ProbeRow[], what: string): void {
  t.ok(rows.length >= 40 && rows.every((r) => r.host === null), `${what} (${rows.filter((r) => r.host !== null).length} of ${rows.length} probes answered)`);
}

function hosts(rows: readonly ProbeRow[]): string[] {
  return hostRuns(rows).map((r) => r.host);
}

function lastAnswerFrom(rows: readonly ProbeRow[], host: string): number | null {
  let last: number | null = null;
  for (const r of rows) if (r.hosts.includes(host)) last = r.sentAt;
  return last;
}

async function putConfig(body: Record<string, unknown>): Promise<string | null> {
  let last = 'no attempt';
  const ok = await until(async () => {
    for (const id of ['fw1', 'fw2'] as const) {
      const r = await lab.api(id, 'PUT', '/v1/config', body).catch((e: Error) => ({ status: 0, body: e.message }));
      if (r.status === 200) return true;
      last = `${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`;
    }
    return false;
  }, 20_000, 200);
  return ok === null ? last : null;
}

async function switchover(to: 'fw1' | 'fw2'): Promise<{ status: number; body: unknown }> {
  const via = to === 'fw1' ? 'fw2' : 'fw1';
  return lab.api(via, 'POST', '/v1/switchover', { to }, 15_000).catch((e: Error) => ({ status: 0, body: e.message }));
}

async function agreedActive(id: 'fw1' | 'fw2', timeoutMs: number): Promise<boolean> {
  const other = id === 'fw1' ? 'fw2' : 'fw1';
  const agreed = await until(async () => {
    const [mine, theirs] = [await lab.status(id), await lab.status(other)];
    const otherAgrees = lab.agentRunning(other) ? theirs?.active?.node === id && selfRole(theirs) === 'standby' : true;
    return mine?.active?.node === id && selfRole(mine) === 'active' && otherAgrees;
  }, timeoutMs);
  return agreed !== null;
}

async function answering(id: string, timeoutMs: number): Promise<boolean> {
  const probe = await lab.startProbe({ maxMs: timeoutMs + 1000 });
  const ok = await probe.waitAnswers(id, 40, probe.startedAt, timeoutMs);
  await probe.stop();
  return ok;
}

/**
 * The starting point of a scenario: `id` holds the role by its own account,
 * the other data node (if running) agrees, and the client gets answers from
 * it. Moves the role there by switchover if needed. A node that holds the
 * role but stays silent fails the precondition.
 */
async function ensureActive(t: Test, id: 'fw1' | 'fw2'): Promise<boolean> {
  const other = id === 'fw1' ? 'fw2' : 'fw1';
  if (!(await agreedActive(id, 10_000)) && lab.agentRunning(other)) {
    const moved = await switchover(id);
    t.comment(`moving the role to ${id} for this scenario: HTTP ${moved.status}`);
  }
  if (!(await agreedActive(id, 20_000))) {
    t.fail(`precondition: ${id} did not become active with ${other} standby`);
    return false;
  }
  if (await answering(id, 4000)) return true;
  t.fail(`precondition: ${id} is active but the client gets no answer from it`);
  return false;
}

function scenario(name: string, body: (t: Test) => Promise<void>): void {
  t.test(name, { timeout: 90_000 }, async (t) => {
    try {
      await body(t);
    } finally {
      if (!t.passing()) {
        for (const id of ['fw1', 'fw2', 'wit'] as const) t.comment(`--- ${id} log (tail) ---\n${lab.logTail(id)}`);
      }
    }
  });
}

// --- set-up --------------------------------------------------------------------------

const setupError = await (async (): Promise<string | null> => {
  await lab.up();
  for (const host of ['fw1', 'fw2'] as const) await lab.startResponder(host);
  await lab.startApiForwarder();
  for (const id of ['fw1', 'fw2', 'wit'] as const) lab.startAgent(id);
  const leader = await until(async () => (await lab.status('fw1'))?.leader ?? null, 30_000);
  if (leader === null) return 'no Raft leader within 30 s';
  return putConfig(settings(true));
})().catch((e: unknown) => (e instanceof Error ? e.message : String(e)));

if (setupError !== null) {
  t.fail(`set-up: ${setupError}`);
  for (const id of ['fw1', 'fw2', 'wit'] as const) t.comment(`--- ${id} log (tail) ---\n${lab.logTail(id)}`);
} else {
  t.comment(`lab ${lab.id}: fw1 ${ADDR.fw1}, fw2 ${ADDR.fw2}, wit ${ADDR.wit}, client ${ADDR.client}, VIP ${VIP}`);

  scenario('R1: the VIP answers from fw1 only', async (t) => {
    if (!(await ensureActive(t, 'fw1'))) return;
    const probe = await lab.startProbe({ maxMs: 1000 });
    const rows = await probe.result();
    t.comment(describe(rows, probe.startedAt));
    t.ok(rows.length > 50, 'the probe ran');
    t.same(hosts(rows), ['fw1'], 'every answer came from fw1');
    t.ok(longestGap(rows).ms < 500, `no outage in normal operation (longest gap ${Math.round(longestGap(rows).ms)} ms)`);
  });

  scenario(
    'R1: the nodes watch each other: every node sees every member reachable, nothing DEGRADED',
    async (t) => {
      if (!(await ensureActive(t, 'fw1'))) return;
      const views = new Map<string, string>();
      const clean = await until(async () => {
        let all = true;
        for (const id of ['fw1', 'fw2', 'wit'] as const) {
          const s = await lab.status(id);
          const unreachable = s?.members.filter((m) => !m.reachable).map((m) => m.id) ?? ['(no answer)'];
          const codes = s?.conditions.map((c) => c.code).filter((c) => c === 'MEMBER_UNREACHABLE' || c === 'DEGRADED') ?? [];
          views.set(id, `unreachable [${unreachable.join(', ')}], conditions [${codes.join(', ')}]`);
          if (unreachable.length > 0 || codes.length > 0) all = false;
        }
        return all;
      }, 5000, 200);
      for (const [id, view] of views) t.comment(`${id} sees: ${view}`);
      t.ok(clean, 'all members reachable from every node, no MEMBER_UNREACHABLE or DEGRADED');
    },
  );

  scenario('policy: PUT /v1/policy is applied identically on fw1 and fw2, next to the fence', async (t) => {
    const ruleset = [
      'table inet e2e_policy {',
      '  chain input {',
      '    type filter hook input priority 0; policy accept;',
      '    udp dport 9 drop',
      '  }',
      '}',
      '',
    ].join('\n');
    const put = await lab.api('fw2', 'PUT', '/v1/policy', { ruleset });
    t.equal(put.status, 200, `PUT /v1/policy: ${JSON.stringify(put.body)}`);
    const list = async (id: AgentId): Promise<string | null> => {
      const r = await lab.exec(id, ['nft', 'list', 'table', 'inet', 'e2e_policy']);
      return r.code === 0 ? r.stdout : null;
    };
    const both = await until(async () => {
      const [a, b] = [await list('fw1'), await list('fw2')];
      return a !== null && b !== null && a === b ? a : null;
    }, 15_000);
    t.ok(both, 'the policy table is present and identical on fw1 and fw2');
    t.match(both ?? '', /udp dport 9 drop/, 'with the rule');
    t.match(both ?? '', /hapair-policy rev \d+/, 'stamped with the replicated revision');
    for (const id of ['fw1', 'fw2'] as const) {
      const fence = await lab.exec(id, ['nft', 'list', 'table', 'inet', 'hapair_fence']);
      t.equal(fence.code, 0, `${id}: the fence table survives the policy change`);
    }
    const probe = await lab.startProbe({ maxMs: 500 });
    t.same(hosts(await probe.result()), ['fw1'], 'the VIP still answers from fw1');
  });

  scenario('R2: SIGKILL of the active agent: its leftover VIP goes silent, fw2 takes over', async (t) => {
    if (!(await ensureActive(t, 'fw1'))) return;
    const probe = await lab.startProbe({ maxMs: 40_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    const killedAt = now();
    lab.signal('fw1', 'SIGKILL');
    t.ok(await lab.waitExit('fw1'), 'fw1 agent is gone');
    const took = await probe.waitAnswers('fw2', STABLE_ANSWERS, killedAt, 20_000);
    const leftover = await lab.exec('fw1', ['ip', '-o', 'addr', 'show', 'dev', 'eth0']);
    const throughFw1 = await lab.answersThrough('fw1');
    const throughFw2 = await lab.answersThrough('fw2');
    const rows = await probe.stop();
    t.comment(describe(rows, killedAt));

    t.ok(took, 'fw2 answers for the VIP');
    t.same(hosts(rows), ['fw1', 'fw2'], 'fw1 until the kill, then fw2, never back and forth');
    t.equal(interleaving(rows, 5000), null, 'never both answering');
    const outage = longestGap(between(rows, killedAt - 50)).ms;
    t.ok(outage < FAILOVER_BOUND_MS, `client-visible outage ${Math.round(outage)} ms < ${FAILOVER_BOUND_MS} ms`);
    const lastFw1 = lastAnswerFrom(rows, 'fw1');
    const silentAfter = lastFw1 === null ? 0 : lastFw1 - killedAt;
    t.ok(silentAfter < FENCE_BOUND_MS, `fw1's last answer was sent ${Math.round(silentAfter)} ms after the kill (< ${FENCE_BOUND_MS} ms: the kernel fence lapsed)`);
    t.match(leftover.stdout, new RegExp(`inet ${VIP.replaceAll('.', '\\.')}/24`), 'precondition: the killed agent left the VIP in fw1\'s kernel');
    assertSilent(t, throughFw1, 'fw1\'s kernel does not answer for that VIP (probed through its MAC)');
    t.ok(throughFw2.filter((r) => r.host === 'fw2').length >= throughFw2.length / 2, 'fw2 answers through its MAC (the peek probe works)');
    measured.push(`R2 crash: outage ${Math.round(outage)} ms, fw1 silent ${Math.round(silentAfter)} ms after SIGKILL`);
    t.comment(measured[measured.length - 1] ?? '');
  });

  scenario('R3: fw1 restarts, clears its leftover and takes the role back (auto failback)', async (t) => {
    if (!(await ensureActive(t, 'fw2'))) {
      if (!lab.agentRunning('fw1')) lab.startAgent('fw1'); // so that later scenarios have a pair again
      return;
    }
    const probe = await lab.startProbe({ maxMs: 60_000 });
    await probe.waitAnswers('fw2', 20, probe.startedAt, 3000);
    const restartedAt = now();
    lab.startAgent('fw1');
    const back = await probe.waitAnswers('fw1', STABLE_ANSWERS, restartedAt, 45_000);
    const rows = await probe.stop();
    t.comment(describe(rows, restartedAt));
    t.ok(back, 'fw1 answers again');
    t.same(hosts(rows), ['fw2', 'fw1'], 'one handover, fw2 to fw1');
    t.equal(interleaving(rows, 5000), null, 'never both answering');
    const outage = longestGap(rows).ms;
    t.ok(outage < PLANNED_MOVE_BOUND_MS, `failback outage ${Math.round(outage)} ms < ${PLANNED_MOVE_BOUND_MS} ms`);
    const s = await lab.status('fw1');
    t.equal(s?.active?.reason, 'failback', 'the move is recorded as a failback');
    measured.push(`R3 failback after restart: outage ${Math.round(outage)} ms`);
    t.comment(measured[measured.length - 1] ?? '');
  });

  scenario('partition: fw1 cut from fw2 and wit (client reaches both): never two answering; heal without blackhole', async (t) => {
    if (!(await ensureActive(t, 'fw1'))) return;
    const probe = await lab.startProbe({ maxMs: 60_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    const cutAt = now();
    await lab.partition('fw1', 'fw2');
    await lab.partition('fw1', 'wit');
    const took = await probe.waitAnswers('fw2', STABLE_ANSWERS, cutAt, 20_000);
    const fw1Stepped = await until(async () => {
      const s = await lab.status('fw1');
      return s !== null && selfRole(s) !== 'active';
    }, 5000);
    const throughFw1 = await lab.answersThrough('fw1');
    // Keep the partition for a while: a split brain would show up as fw1 answering again.
    await sleep(Math.max(0, cutAt + 3000 - now()));
    const healAt = now();
    await lab.heal();
    const back = await probe.waitAnswers('fw1', STABLE_ANSWERS, healAt, 30_000);
    const agree = await until(async () => {
      const [a, b] = [await lab.status('fw1'), await lab.status('fw2')];
      if (a === null || b === null) return null;
      const actives = [selfRole(a), selfRole(b)].filter((r) => r === 'active').length;
      return actives === 1 && a.active?.node === b.active?.node ? `${a.active?.node}` : null;
    }, 10_000);
    const rows = await probe.stop();
    t.comment(describe(rows, cutAt));

    t.ok(took, 'fw2 answers during the partition');
    t.ok(fw1Stepped, 'fw1, cut off from the quorum, does not claim the active role');
    assertSilent(t, throughFw1, 'fw1\'s kernel does not answer for the VIP during the partition');
    t.same(hosts(between(rows, 0, healAt)), ['fw1', 'fw2'], 'during the partition: fw1, then fw2, never back');
    t.equal(interleaving(rows, 2000), null, 'never both answering');
    t.ok(back, 'after the heal, fw1 (preferred, auto failback) answers again');
    t.equal(agree, 'fw1', 'after the heal exactly one node is active and both agree it is fw1');
    const outage = longestGap(between(rows, 0, healAt)).ms;
    const postHeal = longestGap(between(rows, healAt)).ms;
    t.ok(outage < FAILOVER_BOUND_MS, `partition outage ${Math.round(outage)} ms < ${FAILOVER_BOUND_MS} ms`);
    t.ok(postHeal < POST_HEAL_BOUND_MS, `no blackhole after the heal: longest gap ${Math.round(postHeal)} ms < ${POST_HEAL_BOUND_MS} ms`);
    measured.push(`partition: outage ${Math.round(outage)} ms; after heal longest gap ${Math.round(postHeal)} ms`);
    t.comment(measured[measured.length - 1] ?? '');
  });

  scenario('R13: manual switchover to fw2 and back', async (t) => {
    t.equal(await putConfig(settings(false)), null, 'automatic failback off, so the role stays where it is put');
    if (!(await ensureActive(t, 'fw1'))) return;
    const probe = await lab.startProbe({ maxMs: 40_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    const toFw2At = now();
    const r1 = await lab.api('fw1', 'POST', '/v1/switchover', { to: 'fw2' }, 15_000);
    const moved = await probe.waitAnswers('fw2', STABLE_ANSWERS, toFw2At, 15_000);
    const toFw1At = now();
    const r2 = await lab.api('fw2', 'POST', '/v1/switchover', { to: 'fw1' }, 15_000);
    const movedBack = await probe.waitAnswers('fw1', STABLE_ANSWERS, toFw1At, 15_000);
    const rows = await probe.stop();
    t.comment(describe(rows, toFw2At));

    t.equal(r1.status, 200, `switchover to fw2: ${JSON.stringify(r1.body)}`);
    t.equal(r2.status, 200, `switchover to fw1: ${JSON.stringify(r2.body)}`);
    t.ok(moved && movedBack, 'the answers moved to fw2 and back');
    t.same(hosts(rows), ['fw1', 'fw2', 'fw1'], 'exactly two handovers');
    t.equal(interleaving(rows, 100), null, 'never both answering');
    const out1 = longestGap(between(rows, 0, toFw1At)).ms;
    const out2 = longestGap(between(rows, toFw1At)).ms;
    t.ok(out1 < PLANNED_MOVE_BOUND_MS, `switchover to fw2: outage ${Math.round(out1)} ms < ${PLANNED_MOVE_BOUND_MS} ms`);
    t.ok(out2 < PLANNED_MOVE_BOUND_MS, `switchover to fw1: outage ${Math.round(out2)} ms < ${PLANNED_MOVE_BOUND_MS} ms`);
    const took = (r: { body: unknown }): string => String((r.body as { durationMs?: number }).durationMs ?? '?');
    measured.push(`R13 switchover: outage ${Math.round(out1)} ms to fw2 (API ${took(r1)} ms), ${Math.round(out2)} ms back to fw1 (API ${took(r2)} ms)`);
    t.comment(measured[measured.length - 1] ?? '');
  });

  scenario('R2b: the active agent frozen (SIGSTOP) past its lease, then resumed: fw2 took over, fw1 stays silent and standby', async (t) => {
    if (!(await ensureActive(t, 'fw1'))) return;
    const probe = await lab.startProbe({ maxMs: 40_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    const stoppedAt = now();
    lab.signal('fw1', 'SIGSTOP');
    t.teardown(() => {
      if (lab.agentRunning('fw1')) lab.signal('fw1', 'SIGCONT');
    });
    const took = await probe.waitAnswers('fw2', STABLE_ANSWERS, stoppedAt, 20_000);
    // The freeze lasts 4 s in all, well past the lease, whatever the takeover took.
    await sleep(Math.max(0, stoppedAt + 4000 - now()));
    const throughFw1Frozen = await lab.answersThrough('fw1');
    const resumedAt = now();
    lab.signal('fw1', 'SIGCONT');
    const standby = await until(async () => {
      const s = await lab.status('fw1');
      return s !== null && selfRole(s) === 'standby' && s.active?.node === 'fw2';
    }, 15_000);
    // Watch the client for a second of answers after the resume: fw1 must not come back.
    await probe.waitAnswers('fw2', 200, resumedAt, 10_000);
    const throughFw1 = await lab.answersThrough('fw1');
    const rows = await probe.stop();
    t.comment(describe(rows, stoppedAt));

    t.ok(took, 'fw2 answers while fw1 is frozen');
    t.same(hosts(rows), ['fw1', 'fw2'], 'fw1, then fw2; fw1 never answers again after resuming');
    t.equal(interleaving(rows, 5000), null, 'never both answering');
    const lastFw1 = lastAnswerFrom(rows, 'fw1');
    const silentAfter = lastFw1 === null ? 0 : lastFw1 - stoppedAt;
    t.ok(silentAfter < FENCE_BOUND_MS, `fw1's last answer was sent ${Math.round(silentAfter)} ms after the freeze (< ${FENCE_BOUND_MS} ms)`);
    assertSilent(t, throughFw1Frozen, 'frozen fw1\'s kernel does not answer for the VIP');
    assertSilent(t, throughFw1, 'resumed fw1\'s kernel does not answer for the VIP');
    t.ok(standby, 'resumed fw1 reports itself standby, fw2 active');
    const outage = longestGap(between(rows, stoppedAt - 50)).ms;
    t.ok(outage < FAILOVER_BOUND_MS, `outage ${Math.round(outage)} ms < ${FAILOVER_BOUND_MS} ms`);
    measured.push(`R2b freeze: outage ${Math.round(outage)} ms, fw1 silent ${Math.round(silentAfter)} ms after SIGSTOP`);
    t.comment(measured[measured.length - 1] ?? '');
  });

  scenario(
    'R2c: a freeze just past the fence but shorter than an election: the service comes back',
    async (t) => {
      if (!(await ensureActive(t, 'fw1'))) return;
      const probe = await lab.startProbe({ maxMs: 30_000 });
      await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
      const stoppedAt = now();
      lab.signal('fw1', 'SIGSTOP');
      t.teardown(() => {
        if (lab.agentRunning('fw1')) lab.signal('fw1', 'SIGCONT');
      });
      // Resume as soon as the client sees fw1's kernel fall silent (the fence lapsed): usually before fw2 campaigns.
      const lapsed = await until(async () => {
        const last = probe.lastAnswerFrom('fw1');
        return last !== null && now() - last > 60;
      }, 3000, 5);
      const resumedAt = now();
      lab.signal('fw1', 'SIGCONT');
      const back = await until(async () => probe.countFrom('fw1', resumedAt) + probe.countFrom('fw2', resumedAt) >= STABLE_ANSWERS, 10_000);
      const rows = await probe.stop();
      t.comment(describe(rows, stoppedAt));
      const s = await lab.status('fw2');
      t.comment(`frozen ${Math.round(resumedAt - stoppedAt)} ms; active now ${s?.active?.node ?? 'none'} (epoch ${s?.active?.epoch ?? '-'}, ${s?.active?.reason ?? '-'})`);
      t.ok(lapsed, 'the kernel fence lapsed while fw1 was frozen');
      t.ok(back, 'the VIP answers again after the resume (fw1 with a new grant, or fw2)');
      t.equal(interleaving(rows, 5000), null, 'never both answering');
      const outage = longestGap(between(rows, stoppedAt - 50)).ms;
      t.ok(outage < FAILOVER_BOUND_MS, `outage ${Math.round(outage)} ms < ${FAILOVER_BOUND_MS} ms`);
      measured.push(`R2c short freeze: outage ${Math.round(outage)} ms`);
    },
  );

  t.test('measured', async (t) => {
    for (const line of measured) t.comment(line);
    t.pass(`${measured.length} measurements`);
  });
}
