/**
 * The HTTP API of a node: fastify, TypeBox schemas on every route (requests
 * validated, responses serialised, OpenAPI generated from them), bearer-token
 * roles, writes forwarded to the leader, and every error as `{ code, message }`.
 *
 * The API knows the node only through ClusterService (./cluster-service.ts).
 */
import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { roleAllows, type Principal, type Role } from '../auth/roles.js';
import type { TokenAuthenticator } from '../auth/tokens.js';
import { AssertionError } from '../util/assert.js';
import type { ClusterService } from './cluster-service.js';
import { ERROR_CODES, ServiceError, type ErrorBody, type ErrorCode } from './errors.js';
import { DEFAULT_EVENT_STREAM_LIMITS, EventStreams, type EventStreamLimits } from './event-streams.js';
import { FORWARDED_BY_HEADER, forwardToLeader, type ForwardOptions } from './forward.js';
import { registerRoutes } from './routes.js';
import { RequestValidationError, typeboxValidatorCompiler } from './validation.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Least role allowed to call the route; 'none' = no token needed. Every route must say. */
    role?: Role | 'none';
    /** A write: replayed to the leader when this node is a follower. */
    forward?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface ApiTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface ApiServerOptions {
  readonly service: ClusterService;
  readonly tokens: TokenAuthenticator;
  /** Request and error logs; the Authorization header is redacted. Nothing is logged when absent. */
  readonly logger?: Logger | false;
  /** Serve HTTPS with these PEM files. */
  readonly tls?: ApiTlsFiles | null;
  /** Who may scrape GET /metrics: a viewer token (default) or anyone. */
  readonly metricsAccess?: 'viewer' | 'open';
  /** Software version, shown in the OpenAPI document. */
  readonly version?: string;
  readonly bodyLimitBytes?: number;
  readonly backupLimitBytes?: number;
  readonly events?: Partial<EventStreamLimits>;
  readonly forward?: Partial<ForwardOptions>;
}

export const API_DEFAULTS = {
  bodyLimitBytes: 1024 * 1024,
  backupLimitBytes: 16 * 1024 * 1024,
  forwardTimeoutMs: 60_000,
  metricsAccess: 'viewer',
} as const;

/** A TLS file the API cannot read: names the option and the file. */
export class ApiConfigError extends Error {
  override name = 'ApiConfigError';
}

const REDACTED_PATHS = ['req.headers.authorization', 'headers.authorization', 'authorization', 'token'];

export function buildApiServer(options: ApiServerOptions): FastifyInstance {
  const { service, tokens } = options;
  const https = options.tls ? readTls(options.tls) : null;
  const logger = options.logger
    ? options.logger.child({ component: 'api' }, { redact: { paths: REDACTED_PATHS, censor: '[redacted]' } })
    : undefined;
  const app = fastify({
    ...(logger === undefined ? { logger: false } : { loggerInstance: logger }),
    ...(https === null ? {} : { https }),
    bodyLimit: options.bodyLimitBytes ?? API_DEFAULTS.bodyLimitBytes,
    // Our own 503 while closing, so that even that answer is { code, message }.
    return503OnClosing: false,
  }) as unknown as FastifyInstance;

  const streams = new EventStreams(service, { ...DEFAULT_EVENT_STREAM_LIMITS, ...options.events });
  const forward: ForwardOptions = {
    timeoutMs: options.forward?.timeoutMs ?? API_DEFAULTS.forwardTimeoutMs,
    fetch: options.forward?.fetch ?? fetch,
  };
  const apiMetrics = createApiMetrics(streams);
  let closing = false;

  app.decorateRequest('principal', null);
  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  app.addHook('onRoute', (route) => {
    if (route.config?.role === undefined) {
      throw new AssertionError(`route ${String(route.method)} ${route.url} does not declare config.role`);
    }
  });

  app.addHook('onRequest', async (request) => {
    if (closing) throw new ServiceError('SHUTTING_DOWN', `${service.nodeId} is shutting down; ask another node`);
    const need = request.routeOptions.config.role;
    // Unknown routes carry no role: they answer 404 without asking for a token.
    if (need === undefined || need === 'none') return;
    request.principal = authenticate(request, tokens, need);
  });

  app.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.config.forward !== true) return;
    const leader = service.leaderApi();
    if (leader === null) return;
    if (request.headers[FORWARDED_BY_HEADER] !== undefined) {
      throw new ServiceError(
        'NOT_LEADER',
        `${service.nodeId} is not the leader either (it believes ${leader.id} is, at ${leader.url}); retry shortly`,
      );
    }
    await forwardToLeader(request, reply, service.nodeId, leader, forward);
    return reply;
  });

  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) };
    apiMetrics.requests.inc(labels);
    apiMetrics.duration.observe({ route: labels.route }, reply.elapsedTime / 1000);
  });

  app.addHook('preClose', async () => {
    closing = true;
    streams.closeAll('server shutting down');
  });

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    await sendError(reply, 'NOT_FOUND', `no route ${request.method} ${path} (the routes are listed at /v1/openapi.json)`);
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const { httpStatus, body } = toErrorResponse(error, request.headers['content-type']);
    if (body.code === 'INTERNAL') request.log.error({ err: error }, 'internal error');
    else if (httpStatus >= 500) request.log.warn({ code: body.code, msg: body.message }, 'request failed');
    if (httpStatus === 401) reply.header('www-authenticate', 'Bearer realm="hapair"');
    await reply.code(httpStatus).send(body);
  });

  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'hapair API',
        version: options.version ?? '0.0.0',
        description:
          'HA manager for firewall pairs. Every error is { code, message }; the codes are listed in docs/api.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  void app.register(async (scope) => {
    registerRoutes(scope, {
      service,
      streams,
      metricsAccess: options.metricsAccess ?? API_DEFAULTS.metricsAccess,
      backupLimitBytes: options.backupLimitBytes ?? API_DEFAULTS.backupLimitBytes,
      apiRegistry: apiMetrics.registry,
    });
    scope.get('/v1/openapi.json', { schema: { hide: true }, config: { role: 'none' } }, async () => app.swagger());
  });

  return app;
}

function authenticate(request: FastifyRequest, tokens: TokenAuthenticator, need: Role): Principal {
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    throw new ServiceError('UNAUTHENTICATED', 'missing bearer token: send "Authorization: Bearer <token>"');
  }
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (match === null || match[1] === undefined) {
    throw new ServiceError('UNAUTHENTICATED', 'malformed Authorization header: expected "Bearer <token>"');
  }
  const principal = tokens.authenticate(match[1]);
  if (principal === null) throw new ServiceError('UNAUTHENTICATED', 'invalid token (not in the tokens file)');
  if (!roleAllows(principal.role, need)) {
    const path = request.routeOptions.url ?? request.url;
    throw new ServiceError(
      'FORBIDDEN',
      `token "${principal.name}" has role ${principal.role}; ${request.method} ${path} needs ${need}`,
    );
  }
  return principal;
}

export function toErrorResponse(error: unknown, contentType?: string): { httpStatus: number; body: ErrorBody } {
  const make = (code: ErrorCode, message: string, httpStatus?: number) => ({
    httpStatus: httpStatus ?? ERROR_CODES[code].httpStatus,
    body: { code, message },
  });
  if (error instanceof ServiceError) return make(error.code, error.message, error.httpStatus);
  if (error instanceof RequestValidationError) return make('BAD_REQUEST', error.message);
  if (error instanceof JsonBodyError) return make('MALFORMED_JSON', error.message);
  const e = error as Partial<FastifyError>;
  switch (e.code) {
    case 'FST_ERR_VALIDATION':
      return make('BAD_REQUEST', e.message ?? 'invalid request');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return make('MALFORMED_JSON', 'body: is empty, but Content-Type says application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return make('MALFORMED_JSON', 'body: is not valid JSON');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return make(
        'UNSUPPORTED_MEDIA_TYPE',
        `headers.content-type: ${JSON.stringify(contentType ?? '')} is not accepted by this route (send application/json)`,
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return make('PAYLOAD_TOO_LARGE', 'body: exceeds the size limit of this route');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return make('BAD_REQUEST', 'headers.content-length: does not match the body');
    default:
      break;
  }
  // Other client errors from fastify or node (bad URL encoding and the like) keep their status.
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return make('BAD_REQUEST', e.message ?? 'bad request', e.statusCode);
  }
  return make('INTERNAL', 'internal error (see the server log)');
}

async function sendError(reply: FastifyReply, code: ErrorCode, message: string): Promise<void> {
  await reply.code(ERROR_CODES[code].httpStatus).send({ code, message });
}

class JsonBodyError extends Error {
  override name = 'JsonBodyError';
  readonly statusCode = 400;
}

/** JSON.parse, refusing keys that could reach a prototype if the value were merged somewhere later. */
function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw new JsonBodyError('body: is empty, but Content-Type says application/json');
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__' || (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value)) {
        throw new JsonBodyError(`body: the key "${key}" is not allowed`);
      }
      return value;
    });
  } catch (error) {
    if (error instanceof JsonBodyError) throw error;
    throw new JsonBodyError(`body: malformed JSON: ${(error as Error).message}`);
  }
}

function readTls(files: ApiTlsFiles): { cert: Buffer; key: Buffer } {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      throw new ApiConfigError(`api.tls.${what}: cannot read ${file} (${code === 'ENOENT' ? 'file not found' : code ?? String(cause)})`, {
        cause,
      });
    }
  };
  return { cert: read('certFile', files.certFile), key: read('keyFile', files.keyFile) };
}

function createApiMetrics(streams: EventStreams) {
  const registry = new Registry();
  const requests = new Counter({
    name: 'hapair_api_requests_total',
    help: 'HTTP API requests by method, route pattern and status code',
    labelNames: ['method', 'route', 'code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'hapair_api_request_duration_seconds',
    help: 'HTTP API request duration by route pattern',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60],
    registers: [registry],
  });
  new Gauge({
    name: 'hapair_api_event_streams',
    help: 'Open GET /v1/events streams',
    registers: [registry],
    collect() {
      this.set(streams.size);
    },
  });
  return { registry, requests, duration };
}
