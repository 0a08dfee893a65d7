/**
 * The node config file: node-local settings only (MISSION.md, "node config").
 * Cluster-wide settings live in the replicated state, never here.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { LineCounter, parseDocument } from 'yaml';
import { checkHostPort } from './address.js';

const HostPort = Type.String({ minLength: 1, description: 'host:port' });
const NodeId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$', description: 'node id' });
const Kind = Type.Union([Type.Literal('data'), Type.Literal('witness')]);

const BootstrapMember = Type.Object(
  { id: NodeId, peer: HostPort, api: HostPort, kind: Kind },
  { additionalProperties: false },
);

/**
 * A member of the running cluster a new node joins: where to reach it until
 * the node has the membership (the leader learns the new node's address from
 * `hapair join`, and the new node answers it here). The id is needed because
 * every peer connection names the node it expects.
 */
const JoinSeed = Type.Object({ id: NodeId, peer: HostPort }, { additionalProperties: false });

export const NodeConfigSchema = Type.Object(
  {
    node: Type.Object(
      {
        id: NodeId,
        kind: Kind,
        dataDir: Type.String({ minLength: 1 }),
        /** The node's own entitlement (licence) file; its presence is reported to the cluster (R6). */
        entitlementFile: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    peer: Type.Object(
      { listen: HostPort, advertise: Type.Optional(HostPort) },
      { additionalProperties: false },
    ),
    api: Type.Object(
      {
        listen: HostPort,
        advertise: Type.Optional(HostPort),
        tokensFile: Type.Optional(Type.String({ minLength: 1 })),
        tls: Type.Optional(
          Type.Object(
            { certFile: Type.String({ minLength: 1 }), keyFile: Type.String({ minLength: 1 }) },
            { additionalProperties: false },
          ),
        ),
      },
      { additionalProperties: false },
    ),
    cluster: Type.Object(
      {
        name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' }),
        bootstrap: Type.Optional(Type.Array(BootstrapMember, { minItems: 1, maxItems: 7 })),
        /** The members of a running cluster this node joins (`hapair join`); used only until it is a member. */
        join: Type.Optional(Type.Array(JoinSeed, { minItems: 1, maxItems: 7 })),
      },
      { additionalProperties: false },
    ),
    raft: Type.Optional(
      Type.Object(
        {
          /** Take a snapshot of the state and compact the log after this many applied entries (node-local). */
          snapshotEveryEntries: Type.Optional(Type.Integer({ minimum: 16, maximum: 10_000_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    network: Type.Object(
      {
        driver: Type.Union([Type.Literal('linux'), Type.Literal('sim')]),
        interfaces: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }))),
      },
      { additionalProperties: false },
    ),
    log: Type.Optional(
      Type.Object(
        {
          level: Type.Union(
            ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type NodeConfig = Static<typeof NodeConfigSchema>;

/** A config problem: names the file and the key, so an operator can fix it at 3 a.m. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly key: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${key === '' ? '' : `${key}: `}${problem}`, options);
  }
}

export function loadNodeConfig(file: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(cause)})`;
    throw new ConfigError(file, '', problem, { cause });
  }
  return parseNodeConfig(text, file);
}

export function parseNodeConfig(text: string, file: string): NodeConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) {
    const line = lineCounter.linePos(yamlError.pos[0]).line;
    throw new ConfigError(file, '', `invalid YAML${line === undefined ? '' : ` at line ${line}`}: ${yamlError.message}`);
  }
  const raw: unknown = doc.toJS();
  const config = checkSchema(NodeConfigSchema, raw, file);
  checkSemantics(config, file);
  const base = dirname(resolve(file));
  return {
    ...config,
    node: {
      ...config.node,
      dataDir: resolve(base, config.node.dataDir),
      ...(config.node.entitlementFile === undefined
        ? {}
        : { entitlementFile: resolve(base, config.node.entitlementFile) }),
    },
    api: {
      ...config.api,
      ...(config.api.tokensFile === undefined ? {} : { tokensFile: resolve(base, config.api.tokensFile) }),
    },
  };
}

/** Validates against a TypeBox schema and reports the first problem as `path.to.key: problem`. */
export function checkSchema<T extends TSchema>(schema: T, value: unknown, file: string): Static<T> {
  if (Value.Check(schema, value)) return value;
  const first = describeFirstError(schema, value);
  throw new ConfigError(file, first.key, first.problem);
}

function describeFirstError(schema: TSchema, value: unknown): { key: string; problem: string } {
  // An unknown key is the most common typo: report it by name rather than as a schema mismatch.
  const unknown = findUnknownKey(schema, value, []);
  if (unknown !== null) return { key: unknown, problem: 'unknown key' };
  const error = Value.Errors(schema, value).First();
  if (error === undefined) return { key: '', problem: 'invalid' };
  const key = error.path.replace(/^\//, '').replaceAll('/', '.');
  const got = valueAt(value, error.path);
  if (got === undefined) return { key, problem: 'is required' };
  return { key, problem: `${error.message.toLowerCase()}, got ${JSON.stringify(got)}` };
}

function findUnknownKey(schema: TSchema, value: unknown, path: string[]): string | null {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties;
  if (properties === undefined || typeof value !== 'object' || value === null || Array.isArray(value)) {
    const items = (schema as { items?: TSchema }).items;
    if (items !== undefined && Array.isArray(value)) {
      for (const [i, item] of value.entries()) {
        const found = findUnknownKey(items, item, [...path, String(i)]);
        if (found !== null) return found;
      }
    }
    return null;
  }
  for (const [key, child] of Object.entries(value)) {
    const childSchema = properties[key];
    if (childSchema === undefined) {
      if ((schema as { additionalProperties?: unknown }).additionalProperties === false) {
        return [...path, key].join('.');
      }
      continue;
    }
    const found = findUnknownKey(childSchema, child, [...path, key]);
    if (found !== null) return found;
  }
  return null;
}

function valueAt(value: unknown, pointer: string): unknown {
  let current: unknown = value;
  for (const part of pointer.split('/').slice(1)) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function checkSemantics(config: NodeConfig, file: string): void {
  const addresses: Array<[string, string]> = [
    ['peer.listen', config.peer.listen],
    ['api.listen', config.api.listen],
  ];
  if (config.peer.advertise !== undefined) addresses.push(['peer.advertise', config.peer.advertise]);
  if (config.api.advertise !== undefined) addresses.push(['api.advertise', config.api.advertise]);
  const bootstrap = config.cluster.bootstrap ?? [];
  bootstrap.forEach((m, i) => {
    addresses.push([`cluster.bootstrap.${i}.peer`, m.peer], [`cluster.bootstrap.${i}.api`, m.api]);
  });
  const join = config.cluster.join ?? [];
  join.forEach((m, i) => addresses.push([`cluster.join.${i}.peer`, m.peer]));
  for (const [key, address] of addresses) {
    const problem = checkHostPort(address);
    if (problem !== null) throw new ConfigError(file, key, problem);
  }
  checkJoin(config, file);
  if (bootstrap.length > 0) {
    const ids = new Set<string>();
    bootstrap.forEach((m, i) => {
      if (ids.has(m.id)) throw new ConfigError(file, `cluster.bootstrap.${i}.id`, `duplicate member id "${m.id}"`);
      ids.add(m.id);
    });
    const self = bootstrap.find((m) => m.id === config.node.id);
    if (self === undefined) {
      throw new ConfigError(file, 'cluster.bootstrap', `does not list this node ("${config.node.id}")`);
    }
    if (self.kind !== config.node.kind) {
      throw new ConfigError(file, 'cluster.bootstrap', `lists "${self.id}" as ${self.kind} but node.kind is ${config.node.kind}`);
    }
    const witnesses = bootstrap.filter((m) => m.kind === 'witness').length;
    const data = bootstrap.length - witnesses;
    if (data < 1 || data > 2) throw new ConfigError(file, 'cluster.bootstrap', `needs 1 or 2 data members, got ${data}`);
    if (witnesses > 1) throw new ConfigError(file, 'cluster.bootstrap', `allows at most 1 witness, got ${witnesses}`);
  }
}

function checkJoin(config: NodeConfig, file: string): void {
  const join = config.cluster.join;
  if (join === undefined) return;
  if (config.cluster.bootstrap !== undefined) {
    throw new ConfigError(
      file,
      'cluster.join',
      'cannot be combined with cluster.bootstrap (bootstrap forms a new cluster on the first start; join adds this node to a running one): keep one',
    );
  }
  const ids = new Set<string>();
  join.forEach((m, i) => {
    if (m.id === config.node.id) {
      throw new ConfigError(file, `cluster.join.${i}.id`, `lists this node ("${m.id}"); list the members of the running cluster this node joins`);
    }
    if (ids.has(m.id)) throw new ConfigError(file, `cluster.join.${i}.id`, `duplicate member id "${m.id}"`);
    ids.add(m.id);
  });
}
