/**
 * The routes of the HTTP API (issue 6), each with its schemas, its least
 * role and whether it is a write (forwarded to the leader from a follower).
 */
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { Principal } from '../auth/roles.js';
import { assert } from '../util/assert.js';
import type { ClusterService } from './cluster-service.js';
import { ServiceError } from './errors.js';
import type { EventStreams } from './event-streams.js';
import {
  AuditListSchema,
  AuditQuerySchema,
  BackupIdParamsSchema,
  BackupInfoSchema,
  BackupListSchema,
  BinarySchema,
  ConfigViewSchema,
  CreateBackupBodySchema,
  ErrorSchema,
  IfMatchHeadersSchema,
  JoinBodySchema,
  MaintenanceBodySchema,
  MaintenanceResultSchema,
  MemberParamsSchema,
  MembershipResultSchema,
  NodeInfoSchema,
  NoteBodySchema,
  NotesViewSchema,
  PolicyBodySchema,
  PolicyViewSchema,
  ProbeOkSchema,
  ReadQuerySchema,
  RestoreResultSchema,
  SettingsBodySchema,
  StatusSchema,
  SwitchoverBodySchema,
  SwitchoverResultSchema,
  type JoinRequest,
  type SwitchoverRequest,
} from './schemas.js';

export interface RouteDeps {
  readonly service: ClusterService;
  readonly streams: EventStreams;
  readonly metricsAccess: 'viewer' | 'open';
  readonly backupLimitBytes: number;
  /** The API's own metrics, appended to the node's at GET /metrics. */
  readonly apiRegistry: Registry;
}

const ERRORS = { '4xx': ErrorSchema, '5xx': ErrorSchema };
const OPEN = { security: [] as Array<Record<string, string[]>> };

function ok<T extends TSchema>(schema: T, status = 200): Record<string, TSchema> {
  return { [status]: schema, ...ERRORS };
}

function principalOf(request: FastifyRequest): Principal {
  assert(request.principal !== null, `${request.method} ${request.url}: no principal on an authenticated route`);
  return request.principal;
}

/** `If-Match: 9`, `"9"` or `W/"9"` -> 9; `*` or absent -> null (no compare-and-set). */
export function parseIfMatch(header: string | undefined): number | null {
  if (header === undefined || header.trim() === '*') return null;
  const digits = /([0-9]+)/.exec(header);
  assert(digits?.[1] !== undefined, 'if-match passed the schema, so it has digits');
  return Number(digits[1]);
}

function etag(revision: number): string {
  return `"${revision}"`;
}

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { service, streams } = deps;

  // --- status -------------------------------------------------------------
  app.get<{ Querystring: { linearizable?: boolean } }>(
    '/v1/status',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['status'],
        summary: 'Cluster status: members, active node and epoch, leader, conditions',
        description:
          'Reads the local applied state (see `read` for its freshness) unless `linearizable=true`, which confirms ' +
          'leadership with a quorum first (ReadIndex).',
        querystring: ReadQuerySchema,
        response: ok(StatusSchema),
      },
    },
    async (request) => service.status({ linearizable: request.query.linearizable === true }),
  );

  app.get(
    '/v1/node',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['status'],
        summary: "This node: identity, applied revisions, timers and its own setup check (VIPs' interfaces and devices)",
        description:
          'Answered by the node asked, never forwarded. `hapair join` reads it from the new node; the setup check ' +
          '(`hapair verify`, and the end of init, join and leave) reads it from every member.',
        response: ok(NodeInfoSchema),
      },
    },
    async () => service.nodeInfo(),
  );

  // --- config and policy ----------------------------------------------------
  app.get<{ Querystring: { linearizable?: boolean } }>(
    '/v1/config',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['config'],
        summary: 'The replicated cluster settings and their revision (also in the ETag header)',
        querystring: ReadQuerySchema,
        response: ok(ConfigViewSchema),
      },
    },
    async (request, reply) => {
      const view = await service.getConfig({ linearizable: request.query.linearizable === true });
      void reply.header('etag', etag(view.revision));
      return view;
    },
  );

  app.put<{ Body: Record<string, unknown>; Headers: { 'if-match'?: string } }>(
    '/v1/config',
    {
      config: { role: 'admin', forward: true },
      schema: {
        tags: ['config'],
        summary: 'Replace the cluster settings (compare-and-set with If-Match: <revision>)',
        description: 'Answers once committed and applied, with the new revision. CONFIG_INVALID names the key.',
        headers: IfMatchHeadersSchema,
        body: SettingsBodySchema,
        response: ok(ConfigViewSchema),
      },
    },
    async (request, reply) => {
      const view = await service.putConfig(request.body, parseIfMatch(request.headers['if-match']), principalOf(request));
      void reply.header('etag', etag(view.revision));
      return view;
    },
  );

  app.get<{ Querystring: { linearizable?: boolean } }>(
    '/v1/policy',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['policy'],
        summary: 'The replicated security policy and its revision (also in the ETag header)',
        querystring: ReadQuerySchema,
        response: ok(PolicyViewSchema),
      },
    },
    async (request, reply) => {
      const view = await service.getPolicy({ linearizable: request.query.linearizable === true });
      void reply.header('etag', etag(view.revision));
      return view;
    },
  );

  app.put<{ Body: Record<string, unknown>; Headers: { 'if-match'?: string } }>(
    '/v1/policy',
    {
      config: { role: 'admin', forward: true },
      schema: {
        tags: ['policy'],
        summary: 'Replace the security policy (compare-and-set with If-Match: <revision>)',
        headers: IfMatchHeadersSchema,
        body: PolicyBodySchema,
        response: ok(PolicyViewSchema),
      },
    },
    async (request, reply) => {
      const view = await service.putPolicy(request.body, parseIfMatch(request.headers['if-match']), principalOf(request));
      void reply.header('etag', etag(view.revision));
      return view;
    },
  );

  // --- role -------------------------------------------------------------------
  app.post<{ Body: SwitchoverRequest }>(
    '/v1/switchover',
    {
      config: { role: 'operator', forward: true },
      schema: {
        tags: ['role'],
        summary: 'Move the active role (to a given node, or to the other data node)',
        description:
          'Answers once the new active holds the role, or SWITCHOVER_REFUSED with the reason. If the target has not taken the role ' +
          'within 15 s, the move is withdrawn so that it does not happen later, and the answer is TIMEOUT saying so ' +
          '(or saying why it could not be withdrawn).',
        body: SwitchoverBodySchema,
        response: ok(SwitchoverResultSchema),
      },
    },
    async (request) => service.switchover(request.body, principalOf(request)),
  );

  // --- members ---------------------------------------------------------------
  app.put<{ Params: { id: string }; Body: { on: boolean } }>(
    '/v1/members/:id/maintenance',
    {
      config: { role: 'operator', forward: true },
      schema: {
        tags: ['members'],
        summary: 'Put a member in or out of maintenance (a member in maintenance is never made active)',
        params: MemberParamsSchema,
        body: MaintenanceBodySchema,
        response: ok(MaintenanceResultSchema),
      },
    },
    async (request) => service.setMaintenance(request.params.id, request.body.on, principalOf(request)),
  );

  app.post<{ Body: JoinRequest }>(
    '/v1/members',
    {
      config: { role: 'admin', forward: true },
      schema: {
        tags: ['members'],
        summary: 'Add a member (join); VERSION_MISMATCH when its software version differs',
        body: JoinBodySchema,
        response: ok(MembershipResultSchema),
      },
    },
    async (request) => service.join(request.body, principalOf(request)),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/members/:id',
    {
      config: { role: 'admin', forward: true },
      schema: {
        tags: ['members'],
        summary: 'Remove a member (leave)',
        params: MemberParamsSchema,
        response: ok(MembershipResultSchema),
      },
    },
    async (request) => service.leave(request.params.id, principalOf(request)),
  );

  // --- backups ---------------------------------------------------------------
  app.get(
    '/v1/backups',
    {
      config: { role: 'viewer' },
      schema: { tags: ['backups'], summary: 'List the committed backups', response: ok(BackupListSchema) },
    },
    async () => ({ backups: await service.listBackups() }),
  );

  app.post<{ Body: { comment?: string } }>(
    '/v1/backups',
    {
      config: { role: 'admin', forward: true },
      schema: {
        tags: ['backups'],
        summary: 'Create a backup of the settings and policy as a committed entry',
        body: CreateBackupBodySchema,
        response: ok(BackupInfoSchema, 201),
      },
    },
    async (request, reply) => {
      const info = await service.createBackup(request.body.comment ?? '', principalOf(request));
      void reply.code(201);
      return info;
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/backups/:id/export',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['backups'],
        summary: 'Download a backup file',
        params: BackupIdParamsSchema,
        response: {
          200: { description: 'the backup file', content: { 'application/octet-stream': { schema: BinarySchema } } },
          ...ERRORS,
        },
      },
    },
    async (request, reply) => {
      const file = await service.exportBackup(request.params.id);
      const name = file.fileName.replace(/[^A-Za-z0-9_.-]/g, '_');
      return reply
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(Buffer.from(file.data.buffer, file.data.byteOffset, file.data.byteLength));
    },
  );

  // Only this route accepts application/octet-stream, so the parser lives in its own scope.
  void app.register(async (scope) => {
    // Any body is read as bytes here; the handler insists on the one media type it accepts.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.backupLimitBytes }, (_request, body, done) =>
      done(null, body),
    );
    scope.post(
      '/v1/backups/import',
      {
        config: {
          role: 'admin',
          forward: true,
          // The body is raw bytes: documented here, checked in the handler (JSON Schema cannot check a Buffer).
          swaggerTransform: ({ schema, url }) => ({
            schema: { ...schema, consumes: ['application/octet-stream'], body: BinarySchema },
            url,
          }),
        },
        bodyLimit: deps.backupLimitBytes,
        schema: {
          tags: ['backups'],
          summary: 'Upload a backup file exported from this or another cluster (body: the file, application/octet-stream)',
          response: ok(BackupInfoSchema, 201),
        },
      },
      async (request, reply) => {
        const type = request.headers['content-type'] ?? '';
        if (type.split(';')[0]?.trim().toLowerCase() !== 'application/octet-stream') {
          throw new ServiceError(
            'UNSUPPORTED_MEDIA_TYPE',
            `headers.content-type: ${JSON.stringify(type)} is not accepted by this route (send application/octet-stream)`,
          );
        }
        if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
          throw new ServiceError('BAD_REQUEST', 'body: must be a backup file sent as application/octet-stream');
        }
        const info = await service.importBackup(request.body, principalOf(request));
        void reply.code(201);
        return info;
      },
    );
  });

  app.post<{ Params: { id: string } }>(
    '/v1/backups/:id/restore',
    {
      config: { role: 'admin', forward: true },
      schema: {
        tags: ['backups'],
        summary: 'Restore a backup: its settings and policy become the current ones (a committed entry)',
        params: BackupIdParamsSchema,
        response: ok(RestoreResultSchema),
      },
    },
    async (request) => service.restoreBackup(request.params.id, principalOf(request)),
  );

  // --- audit and events --------------------------------------------------------
  app.get<{ Querystring: { limit?: number } }>(
    '/v1/audit',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['audit'],
        summary: 'The newest audit entries (who changed what), newest first',
        querystring: AuditQuerySchema,
        response: ok(AuditListSchema),
      },
    },
    async (request) => ({ entries: await service.audit(request.query.limit ?? 100) }),
  );

  app.post(
    '/v1/flap-damping/clear',
    {
      config: { role: 'operator', forward: true },
      schema: {
        tags: ['members'],
        summary: 'Clear flap damping: automatic moves (failback) may happen again',
        response: ok(Type.Object({ cleared: Type.Boolean({ description: 'false when damping was not engaged' }) })),
      },
    },
    async (request) => service.clearFlapDamping(principalOf(request)),
  );

  app.post<{ Body: { text: string } }>(
    '/v1/notes',
    {
      config: { role: 'operator', forward: true },
      schema: {
        tags: ['audit'],
        summary: 'Commit an operator note to the audit trail (answered once committed and applied)',
        body: NoteBodySchema,
        response: ok(NotesViewSchema),
      },
    },
    async (request) => service.addNote(request.body.text, principalOf(request)),
  );

  app.get(
    '/v1/notes',
    {
      config: { role: 'viewer' },
      schema: { tags: ['audit'], summary: 'How many notes are committed, their checksum and the newest ones', response: ok(NotesViewSchema) },
    },
    async () => service.notes(),
  );

  app.get(
    '/v1/events',
    {
      config: { role: 'viewer' },
      schema: {
        tags: ['events'],
        summary: 'Server-sent events: role changes, leader changes, monitor transitions, conditions, changes',
        description:
          'text/event-stream; `event:` is the type, `data:` a JSON object (docs/api.md). A comment line is sent as a ' +
          'heartbeat. Live only: re-read /v1/status after connecting.',
        response: {
          200: { description: 'the event stream', content: { 'text/event-stream': { schema: Type.String() } } },
          ...ERRORS,
        },
      },
    },
    async (request, reply) => {
      if (!streams.hasRoom()) {
        throw new ServiceError('LIMIT_EXCEEDED', `too many open event streams (at most ${streams.limits.maxStreams})`);
      }
      void reply.hijack();
      streams.start(reply.raw);
      request.log.debug('event stream opened');
    },
  );

  // --- operations -----------------------------------------------------------
  app.get(
    '/metrics',
    {
      config: { role: deps.metricsAccess === 'open' ? 'none' : 'viewer' },
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics (text exposition format)',
        ...(deps.metricsAccess === 'open' ? OPEN : {}),
        response: {
          200: { description: 'Prometheus text', content: { 'text/plain': { schema: Type.String() } } },
          ...ERRORS,
        },
      },
    },
    async (_request, reply) => {
      const registry = service.metricsRegistry();
      const text = (await registry.metrics()) + (await deps.apiRegistry.metrics());
      return reply.type(registry.contentType).send(text);
    },
  );

  app.get(
    '/healthz',
    {
      config: { role: 'none' },
      schema: { tags: ['ops'], summary: 'Liveness: 503 UNHEALTHY when restarting the agent would help', ...OPEN, response: ok(ProbeOkSchema) },
    },
    async () => {
      const probe = service.health();
      if (!probe.ok) throw new ServiceError('UNHEALTHY', probe.reason);
      return { status: 'ok', detail: probe.reason };
    },
  );

  app.get(
    '/readyz',
    {
      config: { role: 'none' },
      schema: { tags: ['ops'], summary: 'Readiness: 503 NOT_READY until the node can serve', ...OPEN, response: ok(ProbeOkSchema) },
    },
    async () => {
      const probe = service.ready();
      if (!probe.ok) throw new ServiceError('NOT_READY', probe.reason);
      return { status: 'ready', detail: probe.reason };
    },
  );
}
