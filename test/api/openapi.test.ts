/**
 * The OpenAPI document served at /v1/openapi.json: it parses, it is OpenAPI
 * 3, every route the server has is in it with its method, every operation
 * documents its errors, and path parameters are declared.
 */
import t from 'tap';
import { startApi } from './harness.js';

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  parameters?: Array<{ in: string; name: string }>;
  security?: unknown[];
  requestBody?: { content?: Record<string, unknown> };
}

const EXPECTED: ReadonlyArray<readonly [string, string]> = [
  ['get', '/v1/status'],
  ['get', '/v1/node'],
  ['get', '/v1/config'],
  ['put', '/v1/config'],
  ['get', '/v1/policy'],
  ['put', '/v1/policy'],
  ['post', '/v1/switchover'],
  ['put', '/v1/members/{id}/maintenance'],
  ['post', '/v1/members'],
  ['delete', '/v1/members/{id}'],
  ['get', '/v1/backups'],
  ['post', '/v1/backups'],
  ['get', '/v1/backups/{id}/export'],
  ['post', '/v1/backups/import'],
  ['post', '/v1/backups/{id}/restore'],
  ['get', '/v1/audit'],
  ['post', '/v1/flap-damping/clear'],
  ['post', '/v1/notes'],
  ['get', '/v1/notes'],
  ['get', '/v1/events'],
  ['get', '/metrics'],
  ['get', '/healthz'],
  ['get', '/readyz'],
];

t.test('GET /v1/openapi.json is a valid OpenAPI 3 document listing every route', async (t) => {
  const h = await startApi(t, { version: '9.9.9' });
  const r = await h.call('GET', '/v1/openapi.json', { token: null });
  t.equal(r.status, 200, 'served without a token');
  const doc = JSON.parse(r.text) as {
    openapi: string;
    info: { title: string; version: string };
    paths: Record<string, Record<string, Operation>>;
    components: { securitySchemes: Record<string, unknown> };
  };
  t.match(doc.openapi, /^3\.\d+\.\d+$/);
  t.equal(doc.info.version, '9.9.9');
  t.same(doc.components.securitySchemes['bearer'], { type: 'http', scheme: 'bearer' });

  const listed = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
  t.same(listed.sort(), EXPECTED.map(([m, p]) => `${m} ${p}`).sort(), 'exactly the routes of issue 6');

  // Every route the server really has (HEAD twins and the document itself aside) is documented.
  for (const [method, path] of EXPECTED) {
    const fastifyPath = path.replace(/\{(\w+)\}/g, ':$1');
    t.ok(h.app.hasRoute({ method: method.toUpperCase() as 'GET', url: fastifyPath }), `server has ${method} ${path}`);
  }

  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const where = `${method} ${path}`;
      t.ok(op.responses?.['4XX'] && op.responses['5XX'], `${where} documents its errors`);
      const errorSchema = op.responses?.['4XX']?.content?.['application/json']?.schema as { required?: string[] };
      t.same(errorSchema.required, ['code', 'message'], `${where}: errors are { code, message }`);
      const success = Object.keys(op.responses ?? {}).filter((s) => /^2\d\d$/.test(s));
      t.equal(success.length, 1, `${where} documents its success response`);
      for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
        t.ok(op.parameters?.some((p) => p.in === 'path' && p.name === name), `${where} declares path parameter ${name}`);
      }
    }
  }
  t.same(doc.paths['/healthz']?.['get']?.security, [], 'probes are documented as open');
  t.notOk(doc.paths['/v1/status']?.['get']?.security, 'other routes use the global bearer requirement');
  t.ok(doc.paths['/v1/backups/import']?.['post']?.requestBody?.content?.['application/octet-stream'], 'import takes bytes');
  t.ok(doc.paths['/v1/config']?.['put']?.parameters?.some((p) => p.in === 'header' && p.name === 'if-match'));
});
