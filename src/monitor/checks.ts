/**
 * One probe per monitor kind. Each is an async function that honours an
 * AbortSignal; the runner also races it against a hard timeout, so a probe
 * that ignores the signal still cannot stall the monitor. Child processes
 * run in their own process group and the whole group is killed on timeout.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { MonitorSettings } from '../fsm/settings.js';
import { unreachable } from '../util/assert.js';
import { processAlive } from '../util/process.js';

export type ProbeResult = { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly detail: string };

export type Check = (signal: AbortSignal) => Promise<ProbeResult>;

export interface CheckEnv {
  /** Logical interface name -> this node's device (carrier monitors). */
  readonly interfaces: Readonly<Record<string, string>>;
  readonly pingPath?: string;
  readonly systemctlPath?: string;
  /** Where interfaces are read (tests can point it elsewhere). */
  readonly sysClassNet?: string;
  readonly procDir?: string;
}

const good = (detail: string): ProbeResult => ({ ok: true, detail });
const bad = (detail: string): ProbeResult => ({ ok: false, detail });

export function makeCheck(m: MonitorSettings, env: CheckEnv): Check {
  switch (m.kind) {
    case 'ping':
      return (signal) => pingCheck(m.target, m.timeoutMs, env.pingPath ?? 'ping', signal);
    case 'tcp':
      return (signal) => tcpCheck(m.target, signal);
    case 'http':
      return (signal) => httpCheck(m.url, m.expectStatus, signal);
    case 'process':
      return () => processCheck(m.pidFile, env.procDir ?? '/proc');
    case 'systemd':
      return (signal) => systemdCheck(m.unit, env.systemctlPath ?? 'systemctl', signal);
    case 'command':
      return (signal) => commandCheck(m.command, signal);
    case 'carrier':
      return () => carrierCheck(env.interfaces[m.interface] ?? m.interface, env.sysClassNet ?? '/sys/class/net');
    default:
      return unreachable(m);
  }
}

// --- processes -----------------------------------------------------------------

interface Exit {
  readonly code: number | null;
  readonly output: string;
  readonly error: string | null;
}

/** Runs argv in its own process group; an abort kills the group. Output is bounded. */
function runGroup(argv: readonly string[], signal: AbortSignal): Promise<Exit> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    let output = '';
    let settled = false;
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const kill = (): void => {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    const finish = (exit: Exit): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', kill);
      resolve(exit);
    };
    signal.addEventListener('abort', kill, { once: true });
    if (signal.aborted) kill();
    const collect = (chunk: Buffer): void => {
      if (output.length < 4096) output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (e: NodeJS.ErrnoException) => finish({ code: null, output, error: e.code === 'ENOENT' ? `${cmd} not found` : e.message }));
    child.on('close', (code) => finish({ code, output: output.trim(), error: null }));
  });
}

function lastLine(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return (lines[lines.length - 1] ?? '').slice(0, 200);
}

async function pingCheck(target: string, timeoutMs: number, pingPath: string, signal: AbortSignal): Promise<ProbeResult> {
  // iputils ping waits whole seconds (-W); the runner's timeout is the real bound.
  const waitS = Math.max(1, Math.ceil(timeoutMs / 1000));
  const exit = await runGroup([pingPath, '-n', '-q', '-c', '1', '-W', String(waitS), target], signal);
  if (exit.error !== null) return bad(exit.error.includes('not found') ? `${exit.error} (install the Debian package iputils-ping)` : exit.error);
  return exit.code === 0 ? good(`${target} answered`) : bad(`${target} did not answer${exit.output === '' ? '' : `: ${lastLine(exit.output)}`}`);
}

async function systemdCheck(unit: string, systemctlPath: string, signal: AbortSignal): Promise<ProbeResult> {
  const exit = await runGroup([systemctlPath, 'is-active', unit], signal);
  if (exit.error !== null) return bad(exit.error);
  const state = lastLine(exit.output) || 'unknown';
  return exit.code === 0 ? good(`${unit} is ${state}`) : bad(`${unit} is ${state}`);
}

async function commandCheck(command: string, signal: AbortSignal): Promise<ProbeResult> {
  const exit = await runGroup(['/bin/sh', '-c', command], signal);
  if (exit.error !== null) return bad(exit.error);
  const tail = exit.output === '' ? '' : `: ${lastLine(exit.output)}`;
  return exit.code === 0 ? good(`exit 0${tail}`) : bad(`exit ${exit.code ?? 'killed'}${tail}`);
}

// --- sockets -----------------------------------------------------------------

/** `host:port`, `[v6]:port`. */
export function parseHostPort(target: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(target) ?? /^([^:]+):(\d+)$/.exec(target);
  if (m === null) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1] ?? '', port } : null;
}

function tcpCheck(target: string, signal: AbortSignal): Promise<ProbeResult> {
  const hp = parseHostPort(target);
  if (hp === null) return Promise.resolve(bad(`target "${target}" is not host:port`));
  return new Promise((resolve) => {
    const socket = connect({ host: hp.host, port: hp.port });
    const done = (r: ProbeResult): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(r);
    };
    const onAbort = (): void => done(bad(`connect to ${target} aborted`));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done(good(`connected to ${target}`)));
    socket.once('error', (e) => done(bad(`connect to ${target}: ${e.message}`)));
  });
}

async function httpCheck(url: string, expectStatus: number, signal: AbortSignal): Promise<ProbeResult> {
  try {
    const response = await fetch(url, { signal, redirect: 'manual' });
    await response.body?.cancel();
    return response.status === expectStatus
      ? good(`${url} answered ${response.status}`)
      : bad(`${url} answered ${response.status}, expected ${expectStatus}`);
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    return bad(`${url}: ${(e as Error).message}${cause === undefined ? '' : ` (${cause})`}`);
  }
}

// --- files -------------------------------------------------------------------

/**
 * An absolute path is a pid file (alive when the pid answers signal 0); any
 * other value is a process name, found by scanning /proc (comm or the
 * basename of argv[0]).
 */
async function processCheck(pidFileOrName: string, procDir: string): Promise<ProbeResult> {
  if (!pidFileOrName.startsWith('/')) return processByName(pidFileOrName, procDir);
  let text: string;
  try {
    text = await readFile(pidFileOrName, 'utf8');
  } catch (e) {
    return bad(`cannot read ${pidFileOrName}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return bad(`${pidFileOrName} does not hold a pid`);
  return processAlive(pid) ? good(`pid ${pid} is alive`) : bad(`pid ${pid} (from ${pidFileOrName}) is not running`);
}

async function processByName(name: string, procDir: string): Promise<ProbeResult> {
  let entries: string[];
  try {
    entries = await readdir(procDir);
  } catch (e) {
    return bad(`cannot read ${procDir}: ${(e as Error).message}`);
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = (await readFile(`${procDir}/${entry}/comm`, 'utf8')).trim();
      if (comm === name) return good(`${name} is running (pid ${entry})`);
      const cmdline = await readFile(`${procDir}/${entry}/cmdline`, 'utf8');
      const argv0 = cmdline.split('\0')[0] ?? '';
      if (argv0.split('/').pop() === name) return good(`${name} is running (pid ${entry})`);
    } catch {
      // the process ended while we looked
    }
  }
  return bad(`no process named ${name}`);
}

async function carrierCheck(device: string, sysClassNet: string): Promise<ProbeResult> {
  try {
    const carrier = (await readFile(`${sysClassNet}/${device}/carrier`, 'utf8')).trim();
    return carrier === '1' ? good(`${device} has carrier`) : bad(`${device} has no carrier`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // The kernel refuses to read carrier of an interface that is down.
    if (code === 'EINVAL') return bad(`${device} is down`);
    if (code === 'ENOENT') return bad(`${device}: no such interface`);
    return bad(`${device}: ${(e as Error).message}`);
  }
}
