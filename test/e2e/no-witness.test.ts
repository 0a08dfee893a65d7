/**
 * End to end without a witness (issue 5; MISSION.md "Safety model", docs/role.md
 * §9): two voters, fw1 and fw2, in the same lab and with the same client probe
 * as failover.test.ts. What the documents promise, and this file asserts:
 *
 * - status says there is no witness and split brain cannot be ruled out
 *   (`NO_WITNESS`, mode `two-node`);
 * - when every path between the two nodes is cut while both still reach the
 *   network, the holder keeps the VIPs and the other node takes them after
 *   an election timeout plus the drift margin of silence: both answer for
 *   the VIPs (split brain, on purpose), each says so (`UNILATERAL`), and
 *   configuration writes are refused (`NO_QUORUM`) while the peer is away;
 * - after the heal the committed lease and Raft leadership decide again:
 *   exactly one node answers, both agree which, the conditions clear and
 *   writes work again.
 */
import t from 'tap';
import {
  assertAnswers,
  assertSilent,
  E2eCluster,
  ELECTION_TIMEOUT_MS,
  FAILOVER_BOUND_MS,
  firstAnswerFrom,
  HEARTBEAT_MS,
  PLANNED_MOVE_BOUND_MS,
  selfRole,
  settings,
  skipWithoutLab,
  STABLE_ANSWERS,
} from './cluster.js';
import { ADDR, E2eLab, now, until, VIP, type StatusView } from './lab.js';
import { between, describe, longestGap } from './probe.js';

await skipWithoutLab();

const lab = new E2eLab({ witness: false });
const cluster = new E2eCluster(lab);

/**
 * The documents promise no seamless heal without a witness, only that the
 * lease and leadership decide again. What that costs: each node stops
 * holding by itself when it hears the other, and the role then waits for a
 * Raft leader. Each side hears the other only once its peer connection is
 * re-dialled (reconnect back-off, at most 2 s: DEFAULT_TRANSPORT_LIMITS), and
 * without a leader they only exchange election messages, one per randomized
 * election timeout (below 2 election timeouts; allow a second round for a
 * split vote); then a grant and possibly a failback (planned moves).
 */
const RECONNECT_BACKOFF_MAX_MS = 2000;
const POST_HEAL_NO_WITNESS_BOUND_MS = RECONNECT_BACKOFF_MAX_MS + 2 * (2 * ELECTION_TIMEOUT_MS) + PLANNED_MOVE_BOUND_MS;

function codes(s: StatusView | null): string[] {
  return s?.conditions.map((c) => c.code) ?? [];
}

const setupError = await cluster.setUp(settings());

if (setupError !== null) {
  cluster.failSetUp(setupError);
} else {
  t.comment(`lab ${lab.id} without a witness: fw1 ${ADDR.fw1}, fw2 ${ADDR.fw2}, client ${ADDR.client}, VIP ${VIP}`);

  cluster.scenario('two voters: fw1 active, status says there is no witness and split brain cannot be ruled out', async (t) => {
    if (!(await cluster.ensureActive(t, 'fw1'))) return;
    for (const id of ['fw1', 'fw2'] as const) {
      const s = await cluster.status(id);
      t.equal(s?.mode, 'two-node', `${id}: mode two-node`);
      const noWitness = s?.conditions.find((c) => c.code === 'NO_WITNESS');
      t.match(noWitness?.message ?? '', /split brain cannot be ruled out; add a witness/, `${id}: NO_WITNESS says so`);
      t.notOk(codes(s).includes('UNILATERAL'), `${id}: nobody holds the role unilaterally`);
    }
  });

  cluster.scenario('partition fw1 | fw2 without a witness: both answer (documented split brain), UNILATERAL, writes refused; after the heal one answers', async (t) => {
    t.teardown(() => lab.heal());
    if (!(await cluster.ensureActive(t, 'fw1'))) return;
    const probe = await lab.startProbe({ maxMs: 60_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    const cutAt = now();
    await lab.partition('fw1', 'fw2');
    const took = await probe.waitAnswers('fw2', STABLE_ANSWERS, cutAt, 20_000);
    const both = await until(async () => {
      const [a, b] = [await cluster.status('fw1'), await cluster.status('fw2')];
      return selfRole(a) === 'active' && selfRole(b) === 'active' && codes(a).includes('UNILATERAL') && codes(b).includes('UNILATERAL') ? [a, b] : null;
    }, 10_000);
    const throughFw1 = await lab.answersThrough('fw1');
    const throughFw2 = await lab.answersThrough('fw2');
    // Once neither node has a leader, a write is refused at once with the reason.
    await until(async () => (await cluster.status('fw1'))?.leader === null, 10_000);
    const write = await lab.api('fw1', 'PUT', '/v1/config', settings()).catch((e: Error) => ({ status: 0, body: e.message }));
    const healAt = now();
    await lab.heal();
    // Leadership decides again; whoever wins, fw1 is preferred and failback is automatic, so the role ends there.
    const settled = await until(async () => {
      const [a, b] = [await cluster.status('fw1'), await cluster.status('fw2')];
      const clear = !codes(a).includes('UNILATERAL') && !codes(b).includes('UNILATERAL');
      return selfRole(a) === 'active' && selfRole(b) === 'standby' && a?.active?.node === 'fw1' && b?.active?.node === 'fw1' && clear;
    }, 30_000);
    const answersAfter = await probe.waitAnswers('fw1', STABLE_ANSWERS, now(), 10_000);
    const throughFw1After = await lab.answersThrough('fw1');
    const throughFw2After = await lab.answersThrough('fw2');
    const final = await cluster.status('fw1');
    const writeAfter = await cluster.putConfig(settings(), 10_000);
    const rows = await probe.stop();
    t.comment(describe(rows, cutAt));

    // During the partition: both hold the role, each by itself.
    t.ok(took, 'fw2 takes the role and the client (following its announcement) is answered by fw2');
    const firstFw2 = firstAnswerFrom(rows, 'fw2', cutAt);
    const tookMs = firstFw2 === null ? Infinity : firstFw2 - cutAt;
    t.ok(
      tookMs >= ELECTION_TIMEOUT_MS - HEARTBEAT_MS && tookMs < FAILOVER_BOUND_MS,
      `fw2 answered ${Math.round(tookMs)} ms after the cut: not before an election timeout of silence (${ELECTION_TIMEOUT_MS} ms, less the last heartbeat's ${HEARTBEAT_MS} ms), within ${FAILOVER_BOUND_MS} ms`,
    );
    t.ok(both, 'both nodes report themselves active, each with UNILATERAL');
    const unilateral = both?.[1]?.conditions.find((c) => c.code === 'UNILATERAL');
    t.match(unilateral?.message ?? '', /fw2 holds the active role by itself.*split brain/, `fw2's UNILATERAL says what it means: ${unilateral?.message ?? '-'}`);
    assertAnswers(t, throughFw1, 'fw1', 'fw1 still answers for the VIP (probed through its MAC)');
    assertAnswers(t, throughFw2, 'fw2', 'fw2 answers for the VIP too (probed through its MAC): split brain, as documented');
    const outage = longestGap(between(rows, 0, healAt)).ms;
    t.ok(outage < FAILOVER_BOUND_MS, `the client was never without an answer for long during the partition (longest gap ${Math.round(outage)} ms < ${FAILOVER_BOUND_MS} ms)`);
    t.equal(write.status, 503, 'a configuration write during the partition is refused');
    t.match(write.body, { code: 'NO_QUORUM', message: /without a witness every change needs both nodes/ }, `with the reason: ${JSON.stringify(write.body)}`);

    // After the heal: one holder, agreed, and the conditions gone.
    t.ok(settled, 'after the heal fw1 is active and fw2 standby by their own accounts, both agree, no UNILATERAL');
    t.comment(`after the heal: epoch ${final?.active?.epoch ?? '-'} (${final?.active?.reason ?? '-'})`);
    t.ok(answersAfter, 'the client is answered by fw1');
    assertAnswers(t, throughFw1After, 'fw1', 'fw1 answers through its MAC');
    assertSilent(t, throughFw2After, 'fw2 no longer answers for the VIP');
    const postHeal = longestGap(between(rows, healAt)).ms;
    t.ok(postHeal < POST_HEAL_NO_WITNESS_BOUND_MS, `after the heal the longest gap was ${Math.round(postHeal)} ms (< ${POST_HEAL_NO_WITNESS_BOUND_MS} ms)`);
    t.equal(writeAfter, null, 'configuration writes work again');
    cluster.measure(
      t,
      `no witness: fw2 took over ${Math.round(tookMs)} ms after the cut (both answering from then on); after the heal longest gap ${Math.round(postHeal)} ms, fw1 active again (${final?.active?.reason ?? '-'})`,
    );
  });

  cluster.summary();
}
