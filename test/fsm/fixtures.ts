/** Helpers to drive the state machine in tests: a tiny in-order "log". */
import { apply, applyEntry, type ApplyResult } from '../../src/fsm/apply.js';
import { encodeCommand, makeCommand, type CommandOf, type CommandType } from '../../src/fsm/commands.js';
import { initialState, type ClusterState } from '../../src/fsm/state.js';

export function at(seconds: number): string {
  return new Date(Date.UTC(2026, 10, 25, 10, 0, 0) + seconds * 1000).toISOString();
}

export function cmd<K extends CommandType>(
  type: K,
  fields: Omit<CommandOf<K>, 'type' | 'v' | 'at' | 'principal'>,
  meta: { at?: string; principal?: string; v?: number } = {},
): CommandOf<K> {
  return makeCommand(type, fields, { at: meta.at ?? at(0), principal: meta.principal ?? 'ops', v: meta.v });
}

/** Applies commands at increasing indexes, as committed entries would be. */
export class Log {
  state: ClusterState = initialState();
  index = 0;
  term = 1;

  run(command: Parameters<typeof apply>[2]): ApplyResult {
    this.index++;
    const applied = apply(this.state, this.index, command);
    this.state = applied.state;
    return applied.result;
  }

  /** Through the bytes, as the driver does it. */
  runBytes(data: Uint8Array): ApplyResult {
    this.index++;
    const applied = applyEntry(this.state, { index: this.index, term: this.term, payload: { type: 'command', data } });
    this.state = applied.state;
    return applied.result;
  }

  runEncoded(command: Parameters<typeof apply>[2]): ApplyResult {
    return this.runBytes(encodeCommand(command));
  }
}

export function register(id: string, kind: 'data' | 'witness' = 'data', version = '0.3.0', entitlementPresent = true) {
  return cmd('registerMember', {
    member: { id, kind, peer: `${id}.example:7400`, api: `${id}.example:7480`, version, entitlementPresent },
  }, { principal: `node:${id}` });
}

export const GOOD_SETTINGS = {
  vips: [{ address: '10.0.0.1/24', interface: 'lan' }],
  preferred: 'fw1',
  failback: { auto: true, holdDownMs: 5000 },
  timers: { heartbeatMs: 100, electionTimeoutMs: 1000 },
  monitors: [{ name: 'upstream', kind: 'ping', target: '10.0.0.254', intervalMs: 500 }],
};

/** fw1, fw2 (data) and wit (witness) registered. */
export function pair(): Log {
  const log = new Log();
  log.run(register('fw1'));
  log.run(register('fw2'));
  log.run(register('wit', 'witness'));
  return log;
}
