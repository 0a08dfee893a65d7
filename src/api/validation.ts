/**
 * Request validation with TypeBox's compiler instead of fastify's default
 * Ajv, for two reasons: bodies are never coerced (`{"to": 5}` is an error,
 * not the node "5"), while query strings, params and headers are; and every
 * failure becomes one sentence naming the field and the problem
 * (`body.to: must be a string, got 5`), not a JSON pointer.
 */
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';

/** How many distinct problems one error message lists. */
const MAX_PROBLEMS = 3;

/** A request that failed its schema; `message` is what the client is told. */
export class RequestValidationError extends Error {
  override name = 'RequestValidationError';
  readonly statusCode = 400;
}

type HttpPart = 'body' | 'querystring' | 'params' | 'headers';

const PART_NAMES: Record<HttpPart, string> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' };

export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart, method }) => {
  const part = (httpPart ?? 'body') as HttpPart;
  const checker = TypeCompiler.Compile(schema);
  // Query strings and params arrive as text; headers are left as they are (they are strings already).
  const coerce = part === 'querystring' || part === 'params';
  // A POST without a body is a POST of `{}` (switchover, create backup); other methods must send one.
  const emptyBodyIsEmptyObject = part === 'body' && method === 'POST';
  return (data: unknown) => {
    let value = data;
    if (value === null || value === undefined) {
      if (emptyBodyIsEmptyObject) value = {};
      else if (part === 'body') return { error: new RequestValidationError('body: is required (send a JSON object)') };
    }
    if (coerce) value = Value.Convert(schema, value);
    // Headers are validated but never replaced: fastify's request.headers is not ours to swap.
    if (checker.Check(value)) return part === 'headers' ? true : { value };
    return { error: new RequestValidationError(describeErrors(PART_NAMES[part], checker.Errors(value))) };
  };
};

export function describeErrors(root: string, errors: Iterable<ValueError>): string {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    problems.push(`${fieldName(root, e.path)}: ${describeError(e)}`);
    if (problems.length >= MAX_PROBLEMS) break;
  }
  return problems.length === 0 ? `${root}: is invalid` : problems.join('; ');
}

/** `/vips/0/address` under `body` -> `body.vips[0].address`. */
export function fieldName(root: string, pointer: string): string {
  let out = root;
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(segment) ? `[${segment}]` : `.${segment}`;
  }
  return out;
}

function describeError(e: ValueError): string {
  const s = e.schema as Record<string, unknown>;
  const got = `, got ${render(e.value)}`;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.ObjectAdditionalProperties:
      return 'is not a known field';
    case ValueErrorType.String:
      return `must be a string${got}`;
    case ValueErrorType.Integer:
      return `must be an integer${got}`;
    case ValueErrorType.Number:
      return `must be a number${got}`;
    case ValueErrorType.Boolean:
      return `must be true or false${got}`;
    case ValueErrorType.Object:
      return `must be an object${got}`;
    case ValueErrorType.Array:
      return `must be a list${got}`;
    case ValueErrorType.Null:
      return `must be null${got}`;
    case ValueErrorType.Literal:
      return `must be ${render(s['const'])}${got}`;
    case ValueErrorType.Union: {
      const options = Array.isArray(s['anyOf']) ? (s['anyOf'] as Array<Record<string, unknown>>) : [];
      if (options.length > 0 && options.every((o) => 'const' in o)) {
        return `must be one of ${options.map((o) => render(o['const'])).join(', ')}${got}`;
      }
      return `does not match any allowed form${got}`;
    }
    case ValueErrorType.StringMinLength:
      return `must be at least ${String(s['minLength'])} characters${got}`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${String(s['maxLength'])} characters${got}`;
    case ValueErrorType.StringPattern:
      return `${typeof s['patternMessage'] === 'string' ? s['patternMessage'] : `must match ${String(s['pattern'])}`}${got}`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be >= ${String(s['minimum'])}${got}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be <= ${String(s['maximum'])}${got}`;
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${String(s['minItems'])} items${got}`;
    case ValueErrorType.ArrayMaxItems:
      return `must have at most ${String(s['maxItems'])} items${got}`;
    default:
      // Rarer keywords: TypeBox's own sentence ("Expected ..."), lower-cased to read like ours.
      return `${e.message.charAt(0).toLowerCase()}${e.message.slice(1)}${got}`;
  }
}

/** A value as the client sent it, short enough for one line. */
function render(x: unknown): string {
  if (x === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(x) ?? String(x);
  } catch {
    text = String(x);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
