import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, release, totalmem } from 'node:os';

export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly output: string[];
}

/** Starts a process in its own process group, keeping the tail of its output for error reports. */
export function start(name: string, command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Started {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, detached: false });
  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    output.push(chunk.toString());
    if (output.length > 200) output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { name, child, output };
}

/** Stops by PID (never by name): SIGTERM, then SIGKILL after a grace period. */
export async function stop(p: Started, graceMs = 3000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function waitForPort(host: string, port: number, timeoutMs: number, what: Started): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (what.child.exitCode !== null) throw new Error(`${what.name} exited early:\n${what.output.join('').slice(-2000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what.name} did not open ${host}:${port} within ${timeoutMs} ms:\n${what.output.join('').slice(-2000)}`);
}

/** Resident set size of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) / 1024;
}

export function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown cpu';
  return `${cpus().length} x ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}`;
}

export { freePort } from '../../src/util/free-port.js';
