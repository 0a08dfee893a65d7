/**
 * A two-namespace lab for the linux driver tests: `a` runs the driver,
 * `b` is the peer that asks for the VIP. Names carry the test's pid and a
 * tag so parallel runs never clash; everything is deleted by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { SystemRunner, type CommandResult } from '../../src/network/linux/command.js';
import { findExecutable } from '../../src/network/linux/command.js';
import { arpingFlavorOf } from '../../src/network/linux/announce.js';

export const NET = {
  a: '10.98.0.1',
  b: '10.98.0.2',
  vip: '10.98.0.100',
  a6: 'fd98::1',
  b6: 'fd98::2',
  vip6: 'fd98::100',
} as const;

/**
 * Asks for `ip` on `device` once: exit 0 when someone answered. Debian has
 * two arpings with different options; iputils' waits whole seconds.
 */
export async function arpProbeArgv(device: string, ip: string): Promise<string[]> {
  const version = await new SystemRunner().run(['arping', '-V'], { timeoutMs: 5000 });
  const flavor = arpingFlavorOf(`${version.stdout}\n${version.stderr}`);
  return flavor === 'habets'
    ? ['arping', '-q', '-c', '1', '-w', '0.5', '-i', device, ip]
    : ['arping', '-q', '-c', '1', '-w', '1', '-I', device, ip];
}

/** Why the lab cannot run here, or null. */
export async function labUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const cmd of ['ip', 'nft', 'arping']) {
    if ((await findExecutable(cmd)) === null) return `${cmd} is not installed`;
  }
  const probe = `hpt-probe-${process.pid}`;
  const host = new SystemRunner();
  const add = await host.run(['ip', 'netns', 'add', probe]);
  await host.run(['ip', 'netns', 'del', probe]);
  return add.code === 0 ? null : `ip netns add failed: ${add.stderr.trim()}`;
}

export class PairLab {
  readonly a: string;
  readonly b: string;
  readonly devA: string;
  readonly devB: string;
  readonly runA: SystemRunner;
  readonly runB: SystemRunner;
  private readonly children: ChildProcess[] = [];
  private readonly host = new SystemRunner();

  constructor(tag: string) {
    const id = `${process.pid.toString(36)}${tag}`;
    this.a = `hpt-${id}-a`;
    this.b = `hpt-${id}-b`;
    // Device names live inside the namespaces, so they need not be unique across labs.
    this.devA = 'hpa0';
    this.devB = 'hpb0';
    this.runA = new SystemRunner(['ip', 'netns', 'exec', this.a]);
    this.runB = new SystemRunner(['ip', 'netns', 'exec', this.b]);
  }

  async up(): Promise<void> {
    await this.down();
    await this.must(this.host, ['ip', 'netns', 'add', this.a]);
    await this.must(this.host, ['ip', 'netns', 'add', this.b]);
    await this.must(this.host, ['ip', 'link', 'add', this.devA, 'netns', this.a, 'type', 'veth', 'peer', 'name', this.devB, 'netns', this.b]);
    for (const [run, dev, v4, v6] of [
      [this.runA, this.devA, NET.a, NET.a6],
      [this.runB, this.devB, NET.b, NET.b6],
    ] as const) {
      await this.must(run, ['ip', 'link', 'set', 'lo', 'up']);
      await this.must(run, ['ip', 'link', 'set', dev, 'up']);
      await this.must(run, ['ip', 'addr', 'add', `${v4}/24`, 'dev', dev]);
      await this.must(run, ['ip', '-6', 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
    }
  }

  async down(): Promise<void> {
    for (const c of this.children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    await this.host.run(['ip', 'netns', 'del', this.a]);
    await this.host.run(['ip', 'netns', 'del', this.b]);
  }

  async must(run: SystemRunner, argv: string[], options: { input?: string } = {}): Promise<CommandResult> {
    const r = await run.run(argv, options);
    if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim() || r.failure}`);
    return r;
  }

  /** VIP addresses (canonical text) on devA. */
  async addressesA(): Promise<string[]> {
    const r = await this.must(this.runA, ['ip', '-j', 'addr', 'show', 'dev', this.devA]);
    const doc = JSON.parse(r.stdout) as { addr_info: { local: string }[] }[];
    return doc.flatMap((l) => l.addr_info.map((a) => a.local));
  }

  /** Whether `b` gets an ARP reply for `ip` (its neighbour cache flushed first). */
  async arpAnswers(ip: string): Promise<boolean> {
    await this.runB.run(['ip', 'neigh', 'flush', 'dev', this.devB]);
    const r = await this.runB.run(await arpProbeArgv(this.devB, ip));
    return r.code === 0;
  }

  /** A UDP echo server in `a` on every address, port `port`. */
  async startEcho(port: number): Promise<void> {
    const code = `
      const dgram = require('node:dgram');
      for (const type of ['udp4', 'udp6']) {
        const s = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
        s.on('message', (m, r) => s.send(m, r.port, r.address));
        s.bind(${port}, type === 'udp4' ? '0.0.0.0' : '::', () => { if (type === 'udp6') console.log('ready'); });
      }`;
    const child = spawn('ip', ['netns', 'exec', this.a, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (c) => reject(new Error(`echo server exited ${c}`)));
    });
  }

  /**
   * Probes `ip:port` from `b` every `everyMs` for `forMs`: one row per probe
   * with the send time and whether an answer came (Unix ms, sub-ms
   * precision). `started` resolves when the first probe is about to go out.
   */
  startProbe(ip: string, port: number, everyMs: number, forMs: number): { started: Promise<void>; done: Promise<{ sentAt: number; answered: boolean }[]> } {
    const code = `
      const dgram = require('node:dgram');
      const s = dgram.createSocket(${JSON.stringify(ip.includes(':') ? 'udp6' : 'udp4')});
      const now = () => performance.timeOrigin + performance.now();
      const sent = new Map(); const out = [];
      let seq = 0; const end = now() + ${forMs};
      s.on('message', (m) => { const k = m.toString(); if (sent.has(k)) { out.push({ sentAt: sent.get(k), answered: true }); sent.delete(k); } });
      console.log('started');
      const timer = setInterval(() => {
        if (now() > end) { clearInterval(timer); setTimeout(() => { for (const v of sent.values()) out.push({ sentAt: v, answered: false }); console.log(JSON.stringify(out)); s.close(); }, 200); return; }
        const k = String(seq++); sent.set(k, now()); s.send(k, ${port}, ${JSON.stringify(ip)});
      }, ${everyMs});`;
    const child = spawn('ip', ['netns', 'exec', this.b, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.children.push(child);
    let text = '';
    child.stdout?.setEncoding('utf8');
    let markStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    child.stdout?.on('data', (d: string) => {
      text += d;
      if (text.startsWith('started\n')) markStarted();
    });
    const done = new Promise<{ sentAt: number; answered: boolean }[]>((resolve, reject) =>
      child.once('exit', () => {
        markStarted();
        try {
          const rows = JSON.parse(text.replace(/^started\n/, '')) as { sentAt: number; answered: boolean }[];
          resolve(rows.sort((x, y) => x.sentAt - y.sentAt));
        } catch (e) {
          reject(e as Error);
        }
      }),
    );
    return { started, done };
  }

  probe(ip: string, port: number, everyMs: number, forMs: number): Promise<{ sentAt: number; answered: boolean }[]> {
    return this.startProbe(ip, port, everyMs, forMs).done;
  }
}

/** Polls `check` until it is true or `timeoutMs` passes; returns the last value. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Converts the driver's performance.now() clock to Unix ms. */
export function unixMs(perfMs: number): number {
  return performance.timeOrigin + perfMs;
}
