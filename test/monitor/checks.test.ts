/**
 * Each monitor kind against local targets: a TCP listener, an HTTP server,
 * a pid file, a command, a fake systemctl, a veth's carrier, ping of
 * loopback. Every probe runs with a real AbortSignal and timeout.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { MonitorSettings } from '../../src/fsm/settings.js';
import { makeCheck, parseHostPort, type CheckEnv, type ProbeResult } from '../../src/monitor/checks.js';
import { findExecutable, SystemRunner } from '../../src/network/linux/command.js';

const base = { intervalMs: 100, timeoutMs: 2000, failAfter: 1, recoverAfter: 1, of: null };

function probe(m: MonitorSettings, env: CheckEnv = { interfaces: {} }, timeoutMs = 2000): Promise<ProbeResult> {
  return makeCheck(m, env)(AbortSignal.timeout(timeoutMs));
}

const dir = await mkdtemp(join(tmpdir(), 'hapair-monitor-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('tcp: connects to a listener, fails on a closed port', async (t) => {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  t.equal((await probe({ ...base, name: 't', kind: 'tcp', target: `127.0.0.1:${port}` })).ok, true);
  const closed = await probe({ ...base, name: 't', kind: 'tcp', target: '127.0.0.1:1' });
  t.equal(closed.ok, false);
  t.match(closed.detail, /ECONNREFUSED/);
  t.same(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
  t.equal(parseHostPort('nohost'), null);
});

t.test('http: expected status passes, another fails, a hanging server is aborted', async (t) => {
  const server = createHttpServer((req, res) => {
    if (req.url === '/hang') return; // never answers
    res.statusCode = req.url === '/ok' ? 200 : 503;
    res.end('x');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  t.equal((await probe({ ...base, name: 'h', kind: 'http', url: `${url}/ok`, expectStatus: 200 })).ok, true);
  const wrong = await probe({ ...base, name: 'h', kind: 'http', url: `${url}/down`, expectStatus: 200 });
  t.equal(wrong.ok, false);
  t.match(wrong.detail, /answered 503, expected 200/);
  t.equal((await probe({ ...base, name: 'h', kind: 'http', url: `${url}/down`, expectStatus: 503 })).ok, true);
  const hang = await probe({ ...base, name: 'h', kind: 'http', url: `${url}/hang`, expectStatus: 200 }, { interfaces: {} }, 200);
  t.equal(hang.ok, false, 'aborted by the signal');
});

t.test('process: pid file alive, dead pid, missing file, by name', async (t) => {
  const child = spawn('sleep', ['30']);
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const pidFile = join(dir, 'p.pid');
  await writeFile(pidFile, `${child.pid}\n`);
  t.equal((await probe({ ...base, name: 'p', kind: 'process', pidFile })).ok, true);
  const byName = await probe({ ...base, name: 'p', kind: 'process', pidFile: 'sleep' });
  t.equal(byName.ok, true, `found by name (${byName.detail})`);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const dead = await probe({ ...base, name: 'p', kind: 'process', pidFile });
  t.equal(dead.ok, false);
  t.match(dead.detail, /is not running/);
  t.match((await probe({ ...base, name: 'p', kind: 'process', pidFile: join(dir, 'none.pid') })).detail, /ENOENT/);
  t.equal((await probe({ ...base, name: 'p', kind: 'process', pidFile: 'no-such-process-name-hapair' })).ok, false);
});

t.test('command: exit status decides; a hung command is killed with its children', async (t) => {
  t.equal((await probe({ ...base, name: 'c', kind: 'command', command: 'exit 0' })).ok, true);
  const failed = await probe({ ...base, name: 'c', kind: 'command', command: 'echo nope; exit 3' });
  t.same(failed, { ok: false, detail: 'exit 3: nope' });
  const marker = join(dir, 'grandchild.pid');
  const started = performance.now();
  const hung = await probe({ ...base, name: 'c', kind: 'command', command: `sleep 30 & echo $! > ${marker}; wait` }, { interfaces: {} }, 300);
  t.equal(hung.ok, false);
  t.ok(performance.now() - started < 5000, 'returned after the abort, not after the sleep');
  const { readFile } = await import('node:fs/promises');
  const grandchild = Number((await readFile(marker, 'utf8')).trim());
  // A killed process may linger as a zombie until init reaps it: that is dead too.
  const running = async (): Promise<boolean> => {
    try {
      return !/^\d+ \(.*\) Z/.test(await readFile(`/proc/${grandchild}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  let alive = await running();
  for (let i = 0; i < 50 && alive; i++) {
    await new Promise((r) => setTimeout(r, 20));
    alive = await running();
  }
  t.notOk(alive, 'the whole process group was killed');
});

t.test('systemd: is-active exit status (with a stand-in systemctl)', async (t) => {
  const fake = join(dir, 'systemctl');
  await writeFile(fake, '#!/bin/sh\n[ "$2" = "good.service" ] && { echo active; exit 0; }\necho inactive; exit 3\n');
  await chmod(fake, 0o755);
  t.same(await probe({ ...base, name: 's', kind: 'systemd', unit: 'good.service' }, { interfaces: {}, systemctlPath: fake }), {
    ok: true,
    detail: 'good.service is active',
  });
  t.same(await probe({ ...base, name: 's', kind: 'systemd', unit: 'bad.service' }, { interfaces: {}, systemctlPath: fake }), {
    ok: false,
    detail: 'bad.service is inactive',
  });
  t.match((await probe({ ...base, name: 's', kind: 'systemd', unit: 'x' }, { interfaces: {}, systemctlPath: join(dir, 'nope') })).detail, /not found/);
});

t.test('carrier: follows the link state of a veth (logical name mapped to the device)', async (t) => {
  if (process.getuid?.() !== 0) return t.plan(0, 'needs root to create a veth');
  const host = new SystemRunner();
  const a = `hpc${process.pid.toString(36)}a`.slice(0, 15);
  const b = `hpc${process.pid.toString(36)}b`.slice(0, 15);
  const add = await host.run(['ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  if (add.code !== 0) return t.plan(0, `cannot create a veth: ${add.stderr.trim()}`);
  t.teardown(() => host.run(['ip', 'link', 'del', a]));
  await host.run(['ip', 'link', 'set', a, 'up']);
  await host.run(['ip', 'link', 'set', b, 'up']);
  const m: MonitorSettings = { ...base, name: 'l', kind: 'carrier', interface: 'uplink' };
  const env = { interfaces: { uplink: a } };
  const waitFor = async (want: boolean): Promise<ProbeResult> => {
    let r = await probe(m, env);
    for (let i = 0; i < 100 && r.ok !== want; i++) {
      await new Promise((res) => setTimeout(res, 20));
      r = await probe(m, env);
    }
    return r;
  };
  t.equal((await waitFor(true)).ok, true, 'carrier with the peer up');
  await host.run(['ip', 'link', 'set', b, 'down']);
  const lost = await waitFor(false);
  t.same(lost, { ok: false, detail: `${a} has no carrier` }, 'no carrier once the peer is down');
  await host.run(['ip', 'link', 'set', a, 'down']);
  t.same(await probe(m, env), { ok: false, detail: `${a} is down` });
  t.match((await probe({ ...m, interface: 'nosuchdev0' }, env)).detail, /no such interface/);
});

t.test('ping: loopback answers, a discard-prefix address (RFC 6666) does not', async (t) => {
  const ping = await findExecutable('ping');
  if (ping === null) return t.plan(0, 'ping not installed (Debian package iputils-ping)');
  t.equal((await probe({ ...base, name: 'i', kind: 'ping', target: '127.0.0.1' }, { interfaces: {}, pingPath: ping })).ok, true);
  const lost = await probe({ ...base, name: 'i', kind: 'ping', target: '100::1', timeoutMs: 1000 }, { interfaces: {}, pingPath: ping }, 1500);
  t.equal(lost.ok, false);
  const missing = await probe({ ...base, name: 'i', kind: 'ping', target: '127.0.0.1' }, { interfaces: {}, pingPath: join(dir, 'noping') });
  t.match(missing.detail, /iputils-ping/);
});
