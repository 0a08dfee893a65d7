/**
 * End to end, R11: a software update goes to the standby first, then to the
 * active, following docs/operations.md ("Updating the software"), with the
 * client probe running through the whole update.
 *
 * The "new release" is a second install of this very build whose
 * package.json carries the next patch version (lab.ts `makeInstall`): the
 * agent reports the version of the package it runs from
 * (src/node/version.ts), so for the version rules this is exactly what
 * installing a newer release does; nothing in the product is told to lie.
 * Each node is restarted from it with its data directory kept, as a package
 * upgrade does.
 */
import {
  E2eCluster,
  HOLD_DOWN_MS,
  hosts,
  PLANNED_MOVE_BOUND_MS,
  selfRole,
  settings,
  skipWithoutLab,
  STABLE_ANSWERS,
} from './cluster.js';
import { checkoutVersion, E2eLab, makeInstall, now, sleep, until, type AgentId, type StatusView } from './lab.js';
import { between, describe, interleaving, longestGap } from './probe.js';

await skipWithoutLab();

const lab = new E2eLab();
const cluster = new E2eCluster(lab);

const OLD = checkoutVersion();
const NEW = OLD.replace(/^(\d+)\.(\d+)\.(\d+)(.*)$/, (_, major: string, minor: string, patch: string) => `${major}.${minor}.${Number(patch) + 1}`);

function version(s: StatusView | null, id: AgentId): string | null {
  return s?.members.find((m) => m.id === id)?.version ?? null;
}

function mismatch(s: StatusView | null): boolean {
  return s?.conditions.some((c) => c.code === 'VERSION_MISMATCH') ?? false;
}

/** Stops `id` as a package upgrade does (SIGTERM, wait) and starts it from `install`. */
async function upgrade(id: AgentId, install: string): Promise<boolean> {
  lab.signal(id, 'SIGTERM');
  const stopped = await lab.waitExit(id, 15_000);
  lab.startAgent(id, { install });
  return stopped;
}

/** `id` runs NEW by fw1's (or fw2's) account, is reachable and, for a data node, healthy and ready. */
async function updated(id: AgentId, timeoutMs: number): Promise<boolean> {
  const ok = await until(async () => {
    const observer = id === 'fw1' ? 'fw2' : 'fw1';
    const [seen, self] = [await cluster.status(observer), await cluster.status(id)];
    const member = seen?.members.find((m) => m.id === id);
    const ready = id === 'wit' || (member?.health === 'healthy' && !(self?.conditions.some((c) => c.code === 'NOT_READY') ?? true));
    return member?.version === NEW && member.reachable && ready;
  }, timeoutMs);
  return ok !== null;
}

const setupError = await cluster.setUp(settings());

if (setupError !== null) {
  cluster.failSetUp(setupError);
} else {
  cluster.scenario(`R11: update ${OLD} -> ${NEW}, the standby first: the role never goes automatically to an older node; the service moves once per step`, async (t) => {
    if (!(await cluster.ensureActive(t, 'fw1'))) return;
    const install = makeInstall(lab.dir, NEW);
    const probe = await lab.startProbe({ maxMs: 150_000 });
    await probe.waitAnswers('fw1', 20, probe.startedAt, 3000);
    const startedAt = now();

    // 1. The standby.
    t.ok(await upgrade('fw2', install), 'fw2 stopped');
    t.ok(await updated('fw2', 45_000), `fw2 is back, reachable, healthy and ready, running ${NEW}`);
    // Conditions are those of fw1's last role pass (every 10 ms), which may not have seen fw2's new version yet.
    const during = (await until(async () => {
      const s = await cluster.status('fw1');
      return mismatch(s) ? s : null;
    }, 2000)) ?? (await cluster.status('fw1'));
    t.equal(version(during, 'fw1'), OLD, `fw1 still runs ${OLD}`);
    t.ok(mismatch(during), `VERSION_MISMATCH: ${during?.conditions.find((c) => c.code === 'VERSION_MISMATCH')?.message ?? '(not raised)'}`);
    const write = await lab.api('fw1', 'PUT', '/v1/config', settings()).catch((e: Error) => ({ status: 0, body: e.message }));
    t.equal(write.status, 409, 'a settings write is refused while versions differ');
    t.match(write.body, { code: 'VERSION_MISMATCH' }, JSON.stringify(write.body));
    const plain = await cluster.switchover('fw2');
    t.not(plain.status, 200, 'a plain switchover to a node of another version is refused');
    t.match(plain.body, { message: new RegExp(`fw2 runs version ${NEW.replaceAll('.', '\\.')}, the active fw1 runs ${OLD.replaceAll('.', '\\.')}.*--force`) }, JSON.stringify(plain.body));
    const step1End = now();

    // 2. Move the role to the updated standby: maintenance on the old active (a move to a newer node is allowed).
    const maintAt = now();
    const on = await lab.api('fw1', 'PUT', '/v1/members/fw1/maintenance', { on: true }, 15_000).catch((e: Error) => ({ status: 0, body: e.message }));
    t.equal(on.status, 200, `maintenance fw1 on: ${JSON.stringify(on.body)}`);
    const moved = await probe.waitAnswers('fw2', STABLE_ANSWERS, maintAt, 15_000);
    t.ok(moved, 'the client is answered by fw2');
    t.equal((await cluster.status('fw2'))?.active?.reason, 'maintenance', 'the role moved for maintenance');

    // The old fw1 leaves maintenance before its update: it is preferred and failback is on, yet it is older than the active.
    const offAt = now();
    const off = await lab.api('fw2', 'PUT', '/v1/members/fw1/maintenance', { on: false }, 15_000).catch((e: Error) => ({ status: 0, body: e.message }));
    t.equal(off.status, 200, `maintenance fw1 off: ${JSON.stringify(off.body)}`);
    const watchMs = HOLD_DOWN_MS + PLANNED_MOVE_BOUND_MS;
    await sleep(watchMs);
    const held = await cluster.status('fw2');
    t.equal(held?.active?.node, 'fw2', `${watchMs} ms after maintenance off, the role is still on fw2: no failback to the older fw1`);

    // 3. The old active, then failback to it (auto) once it runs the new version.
    const upgradeFw1At = now();
    t.ok(await upgrade('fw1', install), 'fw1 stopped');
    t.ok(await updated('fw1', 45_000), `fw1 is back, reachable, healthy and ready, running ${NEW}`);
    const back = await probe.waitAnswers('fw1', STABLE_ANSWERS, upgradeFw1At, 30_000);
    t.ok(back, 'the client is answered by fw1 again');
    const failback = await cluster.status('fw1');
    t.equal(failback?.active?.node, 'fw1', 'fw1 holds the role');
    t.equal(failback?.active?.reason, 'failback', 'by failback');
    t.ok(mismatch(failback), 'VERSION_MISMATCH stays while the witness runs the old version');

    // 4. The witness.
    t.ok(await upgrade('wit', install), 'wit stopped');
    t.ok(await updated('wit', 45_000), `wit is back, running ${NEW}`);
    const clear = await until(async () => {
      const all = await Promise.all((['fw1', 'fw2', 'wit'] as const).map((id) => cluster.status(id)));
      return all.every((s) => s !== null && !mismatch(s)) ? all : null;
    }, 10_000);
    t.ok(clear, 'VERSION_MISMATCH is gone on every node');
    t.equal(await cluster.putConfig(settings(), 15_000), null, 'settings writes work again');
    const final = await cluster.status('fw1');
    t.equal(selfRole(final), 'active', 'fw1 is active at the end');

    const rows = await probe.stop();
    t.comment(describe(rows, startedAt));
    t.same(hosts(between(rows, 0, step1End)), ['fw1'], 'while the standby was updated only fw1 answered');
    const step1Gap = longestGap(between(rows, startedAt, step1End)).ms;
    t.ok(step1Gap < 500, `updating the standby did not interrupt the service (longest gap ${Math.round(step1Gap)} ms)`);
    t.same(hosts(rows), ['fw1', 'fw2', 'fw1'], 'one move to the updated standby, one back to the updated fw1');
    t.equal(interleaving(rows, 2000), null, 'never both answering');
    const toFw2 = longestGap(between(rows, maintAt, offAt)).ms;
    const toFw1 = longestGap(between(rows, upgradeFw1At)).ms;
    t.ok(toFw2 < PLANNED_MOVE_BOUND_MS, `move to fw2: outage ${Math.round(toFw2)} ms < ${PLANNED_MOVE_BOUND_MS} ms`);
    t.ok(toFw1 < PLANNED_MOVE_BOUND_MS, `failback to fw1: outage ${Math.round(toFw1)} ms < ${PLANNED_MOVE_BOUND_MS} ms`);
    cluster.measure(t, `R11 update: standby updated with no outage (longest gap ${Math.round(step1Gap)} ms); move to fw2 ${Math.round(toFw2)} ms, failback ${Math.round(toFw1)} ms`);
  });

  cluster.summary();
}
