/** The node's Prometheus metrics, read from the agent at scrape time. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricsSource {
  readonly nodeId: string;
  isActive(): boolean;
  epoch(): number;
  isLeader(): boolean;
  term(): number;
  commitIndex(): number;
  appliedIndex(): number;
  peerReachability(): ReadonlyArray<{ readonly peer: string; readonly reachable: boolean }>;
  monitorHealth(): ReadonlyArray<{ readonly monitor: string; readonly up: boolean }>;
  conditionCount(): number;
}

export interface NodeMetrics {
  readonly registry: Registry;
  readonly failovers: Counter<'reason'>;
  readonly lastFailoverSeconds: Gauge;
  readonly roleMoves: Counter<'reason'>;
}

export function createNodeMetrics(source: MetricsSource): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: source.nodeId });
  collectDefaultMetrics({ register: registry, prefix: 'hapair_process_' });
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  gauge('hapair_active', '1 when this node holds the active role (VIPs held), else 0', () => (source.isActive() ? 1 : 0));
  gauge('hapair_epoch', 'current lease epoch (fencing token) in the replicated state', () => source.epoch());
  gauge('hapair_raft_leader', '1 when this node is the Raft leader, else 0', () => (source.isLeader() ? 1 : 0));
  gauge('hapair_raft_term', 'current Raft term', () => source.term());
  gauge('hapair_raft_commit_index', 'highest log index known committed', () => source.commitIndex());
  gauge('hapair_raft_applied_index', 'highest log index applied on this node', () => source.appliedIndex());
  gauge('hapair_conditions', 'number of conditions currently raised', () => source.conditionCount());
  new Gauge({
    name: 'hapair_peer_reachable',
    help: '1 when the peer was heard from within the election timeout',
    labelNames: ['peer'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of source.peerReachability()) this.set({ peer: p.peer }, p.reachable ? 1 : 0);
    },
  });
  new Gauge({
    name: 'hapair_monitor_up',
    help: '1 when the monitor reports up after hysteresis',
    labelNames: ['monitor'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of source.monitorHealth()) this.set({ monitor: m.monitor }, m.up ? 1 : 0);
    },
  });
  const failovers = new Counter({
    name: 'hapair_failovers_total',
    help: 'role moves this node observed that were not planned (failover, resource failure, forced)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const roleMoves = new Counter({
    name: 'hapair_role_moves_total',
    help: 'every grant of the active role this node applied, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  const lastFailoverSeconds = new Gauge({
    name: 'hapair_last_failover_duration_seconds',
    help: 'on the node that took over: time from the last word of the previous active to holding the VIPs',
    registers: [registry],
  });
  return { registry, failovers, lastFailoverSeconds, roleMoves };
}
