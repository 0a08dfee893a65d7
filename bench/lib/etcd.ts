/** A 3-member etcd cluster on loopback with default tuning, for side-by-side measurements. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, start, stop, waitForPort, type Started } from './proc.js';

export interface EtcdCluster {
  readonly clientUrls: readonly string[];
  readonly processes: readonly Started[];
  leaderUrl(): Promise<string>;
  close(): Promise<void>;
}

export function findEtcd(): string {
  for (const candidate of ['/usr/bin/etcd', '/usr/local/bin/etcd']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next place
    }
  }
  throw new Error('etcd not found: install the Debian package etcd-server (apt-get install etcd-server)');
}

export async function startEtcd(): Promise<EtcdCluster> {
  const bin = findEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'hapair-bench-etcd-'));
  const members = await Promise.all(
    ['e1', 'e2', 'e3'].map(async (name) => ({ name, client: await freePort(), peer: await freePort() })),
  );
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const processes = members.map((m) =>
    start(`etcd ${m.name}`, bin, [
      '--name', m.name,
      '--data-dir', join(dir, m.name),
      '--listen-client-urls', `http://127.0.0.1:${m.client}`,
      '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', 'hapair-bench',
      '--log-level', 'warn',
    ]),
  );
  const clientUrls = members.map((m) => `http://127.0.0.1:${m.client}`);
  const close = async (): Promise<void> => {
    await Promise.all(processes.map((p) => stop(p)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(members.map((m, i) => waitForPort('127.0.0.1', m.client, 20_000, processes[i] as Started)));
    const cluster: EtcdCluster = { clientUrls, processes, leaderUrl: () => findLeader(clientUrls), close };
    await cluster.leaderUrl();
    return cluster;
  } catch (error) {
    await close();
    throw error;
  }
}

async function findLeader(urls: readonly string[]): Promise<string> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    for (const url of urls) {
      try {
        const res = await fetch(`${url}/v3/maintenance/status`, { method: 'POST', body: '{}' });
        const body = (await res.json()) as { leader?: string; header?: { member_id?: string } };
        if (body.leader !== undefined && body.leader === body.header?.member_id) return url;
      } catch {
        // not up yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('etcd elected no leader within 20 s');
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

export function etcdKey(i: number): string {
  return `bench/${String(i).padStart(9, '0')}`;
}

/** How many of the keys bench/000000000.. bench/(n-1) a member holds, read from that member alone. */
export async function etcdCountKeys(url: string): Promise<number> {
  const res = await fetch(`${url}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: b64('bench/'), range_end: b64('bench0'), count_only: true, serializable: true }),
  });
  const body = (await res.json()) as { count?: string };
  return Number(body.count ?? 0);
}

export function etcdPutBody(i: number, value: string): string {
  return JSON.stringify({ key: b64(etcdKey(i)), value: b64(value) });
}
