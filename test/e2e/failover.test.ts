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
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import {
  assertSilent,
  E2eCluster,
  FAILOVER_BOUND_MS,
  FENCE_BOUND_MS,
  HOLD_DOWN_MS,
  hosts,
  lastAnswerFrom,
  PLANNED_MOVE_BOUND_MS,
  POST_HEAL_BOUND_MS,
  selfRole,
  settings,
  since,
  skipWithoutLab,
  STABLE_ANSWERS,
} from './cluster.js';
import { HOLD_FAULT_DEFAULTS } from '../../src/node/hold-fault.js';
import { ADDR, DEV, E2eLab, failingTool, now, sleep, until, VIP, type AgentId, type RunningProbe } from './lab.js';
import { between, describe, interleaving, longestGap } from './probe.js';

await skipWithoutLab();

const lab = new E2eLab();
const cluster = new E2eCluster(lab);
const scenario = cluster.scenario.bind(cluster);
const ensureActive = cluster.ensureActive.bind(cluster);
const putConfig = cluster.putConfig.bind(cluster);
const measured = cluster.measured;

/**
 * Freezes fw1's agent (SIGSTOP) and resumes it as soon as the client sees fw1's kernel fall
 * silent, that is once the fence lapsed: usually before another node campaigns.
 */
async function freezePastFence(t: Test, probe: RunningProbe): Promise<{ stoppedAt: number; lapsed: boolean; resumedAt: number }> {
  const stoppedAt = now();
  lab.signal('fw1', 'SIGSTOP');
  t.teardown(() => {
    if (lab.agentRunning('fw1')) lab.signal('fw1', 'SIGCONT');
  });
  const lapsed = (await until(async () => {
    const last = probe.lastAnswerFrom('fw1');
    return last !== null && now() - last > 60;
  }, 3000, 5)) === true;
  const resumedAt = now();
  lab.signal('fw1', 'SIGCONT');
  return { stoppedAt, lapsed, resumedAt };
}

/**
 * Stops `id` with `signal` and starts it again with a stand-in nft whose
 * runs with `whenArg` fail while `flag` exists (created by the caller;
 * `restore` removes it, as the test's end does).
 */
async function restartWithFailingNft(t: Test, id: 'fw1' | 'fw2', signal: NodeJS.Signals, whenArg: string): Promise<{ flag: string; restore: () => void }> {
  const flag = join(lab.dir, `nft${whenArg}-fails-on-${id}`);
  const restore = (): void => rmSync(flag, { force: true });
  t.teardown(restore);
  lab.signal(id, signal);
  t.ok(await lab.waitExit(id), `${id} stopped`);
  lab.startAgent(id, { pathFirst: failingTool(lab.dir, 'nft', whenArg, flag) });
  return { flag, restore };
}

// --- set-up --------------------------------------------------------------------------

const NO_FAILBACK = { failback: { auto: false, holdDownMs: HOLD_DOWN_MS } };

const setupError = await cluster.setUp(settings());

if (setupError !== null) {
  cluster.failSetUp(setupError);
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

  scenario("R11: fw2's nft cannot load a new policy revision: fw1 keeps its policy; once nft works, fw2 tries again and both load it", async (t) => {
    if (!(await ensureActive(t, 'fw1'))) return;
    // nft's `-f` runs (policy loads) fail on fw2 while the flag exists.
    const { flag, restore } = await restartWithFailingNft(t, 'fw2', 'SIGTERM', '-f');
    // fw1 must hear fw2 before the PUT: the active does not wait for a standby it cannot reach (R11).
    const fw2Heard = async (): Promise<boolean> => {
      const s = await lab.status('fw1');
      return s?.members.find((m) => m.id === 'fw2')?.reachable === true && !s.conditions.some((c) => c.code === 'MEMBER_UNREACHABLE' || c.code === 'DEGRADED');
    };
    const steady = await until(async () => (await fw2Heard()) && (await sleep(1500), await fw2Heard()), 30_000);
    if (!(await cluster.agreedActive('fw1', 20_000)) || steady === null) {
      t.fail('precondition: fw2 back as the standby, heard by fw1');
      return;
    }
    const table = async (id: AgentId): Promise<string> => (await lab.exec(id, ['nft', 'list', 'table', 'inet', 'e2e_retry'])).stdout;
    writeFileSync(flag, '');
    const ruleset = ['table inet e2e_retry {', '  chain input {', '    type filter hook input priority 0; policy accept;', '    udp dport 10 drop', '  }', '}', ''].join('\n');
    const put = await lab.api('fw1', 'PUT', '/v1/policy', { ruleset });
    t.equal(put.status, 200, `PUT /v1/policy: ${JSON.stringify(put.body)}`);
    const failed = await until(async () => (await lab.status('fw1'))?.conditions.find((c) => c.code === 'POLICY_APPLY_FAILED') ?? null, 15_000);
    t.ok(failed, `fw1 shows POLICY_APPLY_FAILED: ${failed?.message ?? 'not raised'}`);
    t.notMatch(await table('fw1'), /udp dport 10 drop/, 'fw1 keeps the policy it had (standby first)');
    restore();
    const fixedAt = now();
    // The standby tries again within 10 s of its last attempt; then the active follows.
    const loaded = await until(async () => {
      const [a, b] = [await table('fw1'), await table('fw2')];
      return /udp dport 10 drop/.test(a) && a === b ? a : null;
    }, 25_000);
    t.ok(loaded, `once nft works, both load the revision (after ${since(fixedAt)} ms)`);
    const cleared = await until(async () => !((await lab.status('fw1'))?.conditions.some((c) => c.code === 'POLICY_APPLY_FAILED') ?? true), 10_000);
    t.ok(cleared, 'POLICY_APPLY_FAILED clears');
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
    cluster.measure(t, `R2 crash: outage ${Math.round(outage)} ms, fw1 silent ${Math.round(silentAfter)} ms after SIGKILL`);
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
    cluster.measure(t, `R3 failback after restart: outage ${Math.round(outage)} ms`);
  });

  scenario('R7: fw1 restarts unable to set up its fence: no failback to it until its start-up clean-up succeeds, then one clean failback', async (t) => {
    if (!(await ensureActive(t, 'fw1'))) return;
    const flag = join(lab.dir, 'nft-fails');
    // Only nft's interactive session fails (it lists the fence and writes its leases): the fence install and
    // the policy (nft -f) still work, so nothing but the clean-up's report keeps fw1 from being a target.
    const pathFirst = failingTool(lab.dir, 'nft', '-i', flag);
    const probe = await lab.startProbe({ maxMs: 100_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    lab.signal('fw1', 'SIGKILL');
    t.ok(await lab.waitExit('fw1'), 'fw1 agent is gone');
    t.ok(await probe.waitAnswers('fw2', STABLE_ANSWERS, probe.startedAt, 20_000), 'fw2 took over');
    writeFileSync(flag, '');
    let restored = false;
    const restore = (): void => {
      if (!restored) rmSync(flag, { force: true });
      restored = true;
    };
    t.teardown(restore);
    const restartedAt = now();
    lab.startAgent('fw1', { pathFirst });
    // fw1 rejoins and reports healthy, but its clean-up (the fence's nft table) keeps failing.
    const faulted = await until(async () => {
      const s = await lab.status('fw1');
      return s?.conditions.find((c) => c.code === 'NETWORK_FAULT' && c.message.includes('start-up clean-up')) ?? null;
    }, 30_000);
    t.ok(faulted, `fw1 shows NETWORK_FAULT: ${faulted?.message ?? 'not raised'}`);
    // The leader learns it from fw1's health report.
    const known = await until(async () => {
      const s = await lab.status('fw2');
      return s?.conditions.find((c) => c.message.includes('fw1 cannot hold the VIPs: fw1: its start-up clean-up')) ?? null;
    }, 10_000);
    t.ok(known, `fw2 knows fw1 cannot hold the VIPs: ${known?.code ?? 'no'} ${known?.message ?? ''}`);
    // Asked until the refusal names the clean-up: just after its restart fw1 may also still be loading the policy.
    const answers: string[] = [];
    await until(async () => {
      const r = await cluster.switchover('fw1');
      answers.push(`HTTP ${r.status} ${JSON.stringify(r.body)}`);
      return r.status === 200 || /start-up clean-up of the network layer failed/.test(JSON.stringify(r.body));
    }, 10_000, 500);
    t.ok(answers.every((a) => !a.startsWith('HTTP 200')), 'every switchover to fw1 is refused while it cannot clean up');
    t.match(answers.at(-1), /start-up clean-up of the network layer failed/, 'the refusal names the failed clean-up');
    // Well past the failback hold-down: without the report, fw1 would have been given the role it cannot serve.
    await sleep(HOLD_DOWN_MS + 3000);
    const during = await lab.status('fw2');
    t.equal(during?.active?.node, 'fw2', 'fw2 keeps the role');
    restore();
    const fixedAt = now();
    const back = await probe.waitAnswers('fw1', STABLE_ANSWERS, fixedAt, 20_000);
    const rows = await probe.stop();
    t.comment(describe(rows, restartedAt));
    t.ok(back, 'once nft works again, fw1 cleans up and takes the role back');
    t.same(hosts(rows), ['fw1', 'fw2', 'fw1'], 'fw1, fw2 after the kill, fw1 after the fix; never unanswered in between but for the moves');
    t.equal(interleaving(rows, 5000), null, 'never both answering');
    const gap = longestGap(between(rows, restartedAt)).ms;
    t.ok(gap < PLANNED_MOVE_BOUND_MS, `no outage from fw1's restart on but the failback's: longest gap ${Math.round(gap)} ms < ${PLANNED_MOVE_BOUND_MS} ms`);
    t.equal((await lab.status('fw1'))?.active?.reason, 'failback', 'the move is a failback');
  });

  scenario("R4: the active's nft fails for good (its fence cannot be renewed): the role moves to fw2; fw1 gets no planned move while the fault is recent, but takes over when fw2 fails", async (t) => {
    if (!(await ensureActive(t, 'fw1'))) return;
    // nft's interactive session (which writes the fence's leases) fails to start on fw1 while the flag exists.
    const { flag, restore } = await restartWithFailingNft(t, 'fw1', 'SIGKILL', '-i');
    if (!(await ensureActive(t, 'fw1'))) return;
    const probe = await lab.startProbe({ maxMs: 90_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    writeFileSync(flag, '');
    const faultAt = now();
    // nft's session ends (as if it crashed) and cannot be started again: every fence renewal fails.
    t.ok(lab.killChildren('fw1', 'nft') >= 1, "fw1's nft session killed");
    const took = await probe.waitAnswers('fw2', STABLE_ANSWERS, faultAt, 20_000);
    t.ok(took, 'fw2 answers for the VIP');
    const movedAt = now();
    const s2 = await lab.status('fw2');
    t.equal(s2?.active?.node, 'fw2', 'fw2 holds the role');
    t.equal(s2?.active?.reason, 'resource-failure', 'moved as a resource failure');
    const refused = await cluster.switchover('fw1');
    t.match(JSON.stringify(refused.body), /fw1: its network layer failed to take or keep the VIPs for \d/, `fw1 is no target: ${JSON.stringify(refused.body)}`);
    restore();
    // nft works again, but the fault is recent: no failback (the hold-down is HOLD_DOWN_MS) within 5 s.
    await sleep(5000);
    t.equal((await lab.status('fw2'))?.active?.node, 'fw2', `no failback while the fault is recent (${since(movedAt)} ms after the move)`);
    // The active fails now: fw1 takes over all the same (its window has about 20 s to run).
    const killedAt = now();
    lab.signal('fw2', 'SIGKILL');
    t.teardown(() => {
      if (!lab.agentRunning('fw2')) lab.startAgent('fw2');
    });
    const back = await probe.waitAnswers('fw1', STABLE_ANSWERS, killedAt, 20_000);
    const rows = await probe.stop();
    t.comment(describe(rows, faultAt));
    t.ok(back, 'fw1 takes over when fw2 fails, its recent fault notwithstanding');
    t.same(hosts(rows), ['fw1', 'fw2', 'fw1'], 'fw1, then fw2 after the fault, then fw1 after fw2 failed');
    t.equal(interleaving(rows, 5000), null, 'never both answering');
    const outage = longestGap(between(rows, faultAt - 50, movedAt)).ms;
    const bound = HOLD_FAULT_DEFAULTS.reportAfterMs + FENCE_BOUND_MS + PLANNED_MOVE_BOUND_MS;
    t.ok(outage < bound, `outage after the fault ${Math.round(outage)} ms < ${bound} ms (reported after ${HOLD_FAULT_DEFAULTS.reportAfterMs} ms, then a move)`);
    const takeover = longestGap(between(rows, killedAt - 50)).ms;
    t.ok(takeover < FAILOVER_BOUND_MS + FENCE_BOUND_MS, `outage after fw2 failed ${Math.round(takeover)} ms < ${FAILOVER_BOUND_MS + FENCE_BOUND_MS} ms`);
    cluster.measure(t, `R4 network layer fault on the active: outage ${Math.round(outage)} ms; fw1 back after fw2 failed: ${Math.round(takeover)} ms`);
    lab.startAgent('fw2');
    t.ok(await cluster.agreedActive('fw1', 30_000), 'fw2 back as the standby');
  });

  scenario("R2: the active's cable pulled: fw2 takes over; after the replug never two hosts answering, no blackhole", async (t) => {
    if (!(await ensureActive(t, 'fw1'))) return;
    const probe = await lab.startProbe({ maxMs: 60_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    const cutAt = now();
    await lab.cutCable('fw1');
    t.teardown(() => lab.plugCable('fw1'));
    const took = await probe.waitAnswers('fw2', STABLE_ANSWERS, cutAt, 20_000);
    // Cut off from the quorum, fw1 must let go of the VIP by itself, or it would answer again on the replug.
    const releasedAt = await until(async () => {
      const r = await lab.exec('fw1', ['ip', '-o', 'addr', 'show', 'dev', DEV]);
      return r.code === 0 && !r.stdout.includes(`inet ${VIP}/`) ? now() : null;
    }, FAILOVER_BOUND_MS, 20);
    const fence = await lab.exec('fw1', ['nft', 'list', 'table', 'inet', 'hapair_fence']);
    const replugAt = now();
    await lab.plugCable('fw1');
    const back = await probe.waitAnswers('fw1', STABLE_ANSWERS, replugAt, 30_000);
    const agree = await cluster.singleAgreedActive(10_000);
    const rows = await probe.stop();
    t.comment(describe(rows, cutAt));

    t.ok(took, 'fw2 answers while fw1 is unplugged');
    t.ok(releasedAt !== null, `unplugged fw1 removed the VIP from its kernel (${releasedAt === null ? 'not' : Math.round(releasedAt - cutAt)} ms after the cut)`);
    t.equal(fence.code, 0, 'the fence table is still in place on fw1');
    t.notMatch(fence.stdout, /set lease4 \{[^}]*elements/, 'with no lease element left in it');
    t.same(hosts(between(rows, 0, replugAt)), ['fw1', 'fw2'], 'until the replug: fw1, then fw2');
    t.same(hosts(rows), ['fw1', 'fw2', 'fw1'], 'after the replug fw1 (preferred, auto failback) takes the role back, once');
    t.equal(interleaving(rows, 2000), null, 'never both answering');
    t.ok(back, 'fw1 answers again after the replug');
    t.equal(agree, 'fw1', 'after the replug exactly one node is active and both agree it is fw1');
    const outage = longestGap(between(rows, 0, replugAt)).ms;
    const postReplug = longestGap(between(rows, replugAt)).ms;
    t.ok(outage < FAILOVER_BOUND_MS, `cable pull outage ${Math.round(outage)} ms < ${FAILOVER_BOUND_MS} ms`);
    t.ok(postReplug < POST_HEAL_BOUND_MS, `no blackhole after the replug: longest gap ${Math.round(postReplug)} ms < ${POST_HEAL_BOUND_MS} ms`);
    cluster.measure(t, `R2 cable pull: outage ${Math.round(outage)} ms; VIP removed on fw1 ${releasedAt === null ? '-' : Math.round(releasedAt - cutAt)} ms after the cut; after the replug longest gap ${Math.round(postReplug)} ms`);
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
    const agree = await cluster.singleAgreedActive(10_000);
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
    cluster.measure(t, `partition: outage ${Math.round(outage)} ms; after heal longest gap ${Math.round(postHeal)} ms`);
  });

  scenario('R13: manual switchover to fw2 and back', async (t) => {
    t.equal(await putConfig(settings(NO_FAILBACK)), null, 'automatic failback off, so the role stays where it is put');
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
    cluster.measure(t, `R13 switchover: outage ${Math.round(out1)} ms to fw2 (API ${took(r1)} ms), ${Math.round(out2)} ms back to fw1 (API ${took(r2)} ms)`);
  });

  scenario('R9: without auto failback, fw1 returns as a ready standby and the roles stay reversed until a switchover', async (t) => {
    t.equal(await putConfig(settings(NO_FAILBACK)), null, 'automatic failback off');
    if (!(await ensureActive(t, 'fw1'))) return;
    const probe = await lab.startProbe({ maxMs: 60_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    const killedAt = now();
    lab.signal('fw1', 'SIGKILL');
    t.ok(await lab.waitExit('fw1'), 'fw1 agent is gone');
    const took = await probe.waitAnswers('fw2', STABLE_ANSWERS, killedAt, 20_000);
    const granted = await lab.status('fw2');
    lab.startAgent('fw1');
    // fw1 is back and could take the role: standby and ready by its own account, reachable and healthy in fw2's view.
    const eligible = await until(async () => {
      const [a, b] = [await lab.status('fw1'), await lab.status('fw2')];
      const seen = b?.members.find((m) => m.id === 'fw1');
      return a !== null && selfRole(a) === 'standby' && !a.conditions.some((c) => c.code === 'NOT_READY') && seen?.reachable === true && seen.health === 'healthy';
    }, 30_000);
    // With auto failback the role would move after the hold-down plus a planned move; watch for that long.
    const watchMs = HOLD_DOWN_MS + PLANNED_MOVE_BOUND_MS;
    const watchFrom = now();
    await sleep(watchMs);
    const stayed = await lab.status('fw2');
    const switchAt = now();
    const moved = await cluster.switchover('fw1');
    const back = await probe.waitAnswers('fw1', STABLE_ANSWERS, switchAt, 15_000);
    const rows = await probe.stop();
    t.comment(describe(rows, killedAt));

    t.ok(took, 'fw2 took over from the killed fw1');
    t.ok(eligible, 'restarted fw1 is a ready standby, reachable and healthy');
    t.same(hosts(between(rows, 0, switchAt)), ['fw1', 'fw2'], `fw2 kept answering through fw1's return and ${watchMs} ms after it was ready`);
    t.ok(between(rows, watchFrom, switchAt).filter((r) => r.host === 'fw2').length >= STABLE_ANSWERS, 'the client was answered during the watch');
    t.equal(stayed?.active?.node, 'fw2', 'fw2 still holds the role');
    t.equal(stayed?.active?.epoch, granted?.active?.epoch, `with the epoch of its takeover (${granted?.active?.epoch ?? '-'}, ${granted?.active?.reason ?? '-'})`);
    t.equal(moved.status, 200, `an operator's switchover moves it back: ${JSON.stringify(moved.body)}`);
    t.ok(back, 'fw1 answers again after the switchover');
    t.same(hosts(rows), ['fw1', 'fw2', 'fw1'], 'one failover, one switchover');
    t.equal(interleaving(rows, 2000), null, 'never both answering');
    const outage = longestGap(between(rows, switchAt)).ms;
    t.ok(outage < PLANNED_MOVE_BOUND_MS, `switchover back: outage ${Math.round(outage)} ms < ${PLANNED_MOVE_BOUND_MS} ms`);
    cluster.measure(t, `R9 no failback: roles stayed reversed for ${watchMs} ms after fw1 was ready; switchover back outage ${Math.round(outage)} ms`);
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
    cluster.measure(t, `R2b freeze: outage ${Math.round(outage)} ms, fw1 silent ${Math.round(silentAfter)} ms after SIGSTOP`);
  });

  scenario(
    'R2c: a freeze just past the fence but shorter than an election: the service comes back',
    async (t) => {
      if (!(await ensureActive(t, 'fw1'))) return;
      const probe = await lab.startProbe({ maxMs: 30_000 });
      await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
      const { stoppedAt, lapsed, resumedAt } = await freezePastFence(t, probe);
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

  scenario(
    'R2d: the active kept in maintenance (fw2 frozen, nowhere to move) frozen past its fence: it serves again, under a new epoch when the fence lapsed at a renewal',
    async (t) => {
      if (!(await ensureActive(t, 'fw1'))) return;
      lab.signal('fw2', 'SIGSTOP');
      t.teardown(async () => {
        if (lab.agentRunning('fw2')) lab.signal('fw2', 'SIGCONT');
        await lab.api('fw1', 'PUT', '/v1/members/fw1/maintenance', { on: false }).catch(() => null);
      });
      const fw2Gone = await until(async () => (await lab.status('fw1'))?.members.find((m) => m.id === 'fw2')?.reachable === false, 10_000);
      t.ok(fw2Gone, 'fw1 sees fw2 unreachable');
      const on = await lab.api('fw1', 'PUT', '/v1/members/fw1/maintenance', { on: true });
      t.equal(on.status, 200, `maintenance on: HTTP ${on.status} ${JSON.stringify(on.body)}`);
      const before = await lab.status('fw1');
      t.equal(before?.active?.node, 'fw1', 'fw1 keeps the role in maintenance: no node can take it');
      const epoch = before?.active?.epoch ?? 0;

      const probe = await lab.startProbe({ maxMs: 30_000 });
      await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
      const { stoppedAt, lapsed, resumedAt } = await freezePastFence(t, probe);
      const back = await until(async () => probe.countFrom('fw1', resumedAt) >= STABLE_ANSWERS, 10_000);
      const rows = await probe.stop();
      t.comment(describe(rows, stoppedAt));
      const after = await lab.status('fw1');
      t.comment(`frozen ${Math.round(resumedAt - stoppedAt)} ms; active now ${after?.active?.node ?? 'none'} (epoch ${after?.active?.epoch ?? '-'}, ${after?.active?.reason ?? '-'})`);
      t.ok(lapsed, 'the kernel fence lapsed while fw1 was frozen');
      t.ok(back, 'fw1 answers for the VIP again, still in maintenance');
      t.equal(after?.active?.node, 'fw1', 'fw1 holds the role');
      // Which way it comes back depends on a few milliseconds: if its first decision after the
      // freeze renews the lapsed fence, the driver refuses and fw1 takes a new epoch (a
      // fence-lapsed grant of version 2, applied in maintenance); if its Raft lease ran out too,
      // it releases and takes its epoch again. The unit tests pin the first way down.
      const renewed = (after?.active?.epoch ?? 0) > epoch;
      t.comment(renewed ? `it took epoch ${after?.active?.epoch ?? '-'} after ${epoch} (fence lapsed at a renewal)` : `it took epoch ${epoch} again (released first)`);
      if (renewed) t.equal(after?.active?.reason, 'fence-lapsed', 'the new epoch is a fence-lapsed grant');
      t.same(hosts(between(rows, resumedAt)), ['fw1'], 'only fw1 answered');
      measured.push(`R2d freeze in maintenance: outage ${Math.round(longestGap(between(rows, stoppedAt - 50)).ms)} ms`);
    },
  );

  cluster.summary();
}
