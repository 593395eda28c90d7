import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import { clientAddress } from '../client-address.js';
import { MemberCardError } from '../errors.js';
import type { AdminAuthorizer } from '../options.js';
import { jsonBody } from './body.js';
import type { Runtime } from '../runtime.js';
import type { AuditEntry, Operation } from '../store/types.js';
import type { Bindings } from '../bindings.js';
import type { Operations } from '../operations/types.js';
import type { Binding } from '../store/types.js';
import { invalid, type FieldNames } from '../operations/validate.js';
import { bucketOf, rateLimited, rateLimiter, type Limiter } from '../rate-limit.js';

/** API names → the snake_case names of the HTTP bodies, so a 400 names the field the tool sent. */
const HTTP_NAMES: FieldNames = { requestId: 'request_id', membershipNumber: 'membership_number' };

const iso = (ms: number): string => new Date(ms).toISOString();

/** A journal entry as the admin routes answer it. */
export function operationJson(op: Operation): Record<string, unknown> {
  return {
    request_id: op.requestId,
    kind: op.kind,
    code: op.code,
    ...(op.amount !== undefined ? { amount: op.amount } : {}),
    ...(op.value !== undefined ? { value: op.value } : {}),
    ...(op.remark !== undefined ? { remark: op.remark } : {}),
    ...(op.actor !== undefined ? { actor: op.actor } : {}),
    state: op.state,
    ...(op.before !== undefined ? { before: op.before } : {}),
    after: op.after,
    out_request_no: op.outRequestNo,
    ...(op.error ? { error: op.error } : {}),
    created_at: iso(op.createdAt),
    updated_at: iso(op.updatedAt),
  };
}

/** An audit line: a change WeChat Pay applied, or a merchant's bind (kind bind, before/after the users bound). */
function auditJson(entry: AuditEntry): Record<string, unknown> {
  return {
    request_id: entry.requestId,
    kind: entry.kind,
    ...(entry.actor !== undefined ? { actor: entry.actor } : {}),
    ...(entry.amount !== undefined ? { amount: entry.amount } : {}),
    ...(entry.value !== undefined ? { value: entry.value } : {}),
    ...(entry.remark !== undefined ? { remark: entry.remark } : {}),
    ...(entry.before !== undefined ? { before: entry.before } : {}),
    after: entry.after,
    at: iso(entry.at),
  };
}

/** Re-throws an API validation error with the HTTP body's field names. */
async function httpNames<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof MemberCardError && err.code === 'INVALID_REQUEST' && err.details?.length) {
      const details = err.details.map((d) => ({ ...d, field: HTTP_NAMES[d.field] ?? d.field }));
      const first = details[0] as { field: string; issue: string };
      throw new MemberCardError('INVALID_REQUEST', `"${first.field}" ${first.issue}.`, { details });
    }
    throw err;
  }
}

function bodyOf(ctx: Context): Record<string, unknown> {
  const body = ctx.request.body as unknown;
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new MemberCardError('INVALID_REQUEST', 'Send a JSON object.');
  return body as Record<string, unknown>;
}

const ALLOWED: Record<string, string[]> = {
  balance: ['code', 'amount', 'remark', 'request_id', 'actor'],
  points: ['code', 'amount', 'remark', 'request_id', 'actor'],
  level: ['code', 'level', 'request_id', 'actor'],
  'membership-number': ['code', 'membership_number', 'request_id', 'actor'],
  bindings: ['code', 'user', 'actor'],
};

/** A binding as the admin bind route answers it. */
function bindingJson(b: Binding): Record<string, unknown> {
  return {
    code: b.code,
    status: b.status,
    ...(b.userOpenid !== undefined ? { openid: b.userOpenid } : {}),
    ...(b.unionid !== undefined ? { unionid: b.unionid } : {}),
    created_at: iso(b.createdAt),
    updated_at: iso(b.updatedAt),
  };
}

function onlyKnown(body: Record<string, unknown>, route: string): void {
  const allowed = ALLOWED[route] ?? [];
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length)
    throw invalid(unknown[0] as string, `is not a field of POST /admin/${route} (allowed: ${allowed.join(', ')})`);
}

/** One failure count per memberCard(), whichever admin route is asked (the in-memory fallback included). */
const failureLimiters = new WeakMap<Runtime, Limiter>();

/**
 * The back office's door: authorizeAdmin, before any body is read; a throw is a refusal. Refused
 * attempts are counted per client address (issue 12, finding 8), for serve's token and a host's own
 * authorizeAdmin alike: an address out of attempts is refused before its credentials are looked at,
 * so guessing on gains nothing; allowed requests only look at the bucket, never spend it.
 */
export function adminGuard(rt: Runtime, authorize: AdminAuthorizer) {
  let limiter = failureLimiters.get(rt);
  if (!limiter)
    failureLimiters.set(rt, (limiter = rateLimiter(rt.store, () => rt.metrics.rateLimited('admin_failures'))));
  const failures = bucketOf(rt.options.rateLimit.adminFailures);
  const counts = limiter;
  return async function adminOnly(ctx: Context, next: Next): Promise<void> {
    const client = clientAddress(ctx);
    const key = `admin:${rt.options.cardId}:${client}`;
    await counts.ensureLeft(key, failures);
    let allowed = false;
    try {
      allowed = (await authorize(ctx)) === true;
    } catch (err) {
      rt.log('error', 'authorizeAdmin threw; access denied', { error: err instanceof Error ? err.name : typeof err });
    }
    if (!allowed) {
      const taken = failures && (await counts.take(key, failures));
      // Said once, when this failure used the last attempt: from now on the address is refused
      // before authorizeAdmin runs, until its attempts come back.
      if (taken?.allowed && taken.remaining < 1) rt.log('warn', 'admin attempts throttled', { client });
      if (taken && !taken.allowed) {
        rt.metrics.rateLimited('admin_failures');
        throw rateLimited(taken.retryAfterMs);
      }
      throw new MemberCardError('FORBIDDEN', 'Not allowed.');
    }
    ctx.set('Cache-Control', 'no-store');
    await next();
  };
}

/**
 * Back-office routes over cards.operations and cards.bindings, mounted only when the merchant
 * passes authorizeAdmin: POST /admin/balance | /admin/points | /admin/level |
 * /admin/membership-number | /admin/bindings, GET /admin/history?code=&limit=,
 * GET /admin/operations/{request_id}. The guard runs before the body is read, so an unauthorised
 * caller costs nothing.
 */
export function mountAdmin(
  router: Router,
  rt: Runtime,
  { operations, bindings }: { operations: Operations; bindings: Bindings },
  authorize: AdminAuthorizer,
): void {
  const guard = adminGuard(rt, authorize);
  const body = jsonBody(rt.options.bodyLimit);
  const actorOf = (b: Record<string, unknown>): string => (b['actor'] === undefined ? 'admin' : (b['actor'] as string));

  // The change routes: each maps its HTTP body onto one operations call, which validates the fields.
  const target = (b: Record<string, unknown>) => ({
    code: b['code'] as string,
    requestId: b['request_id'] as string,
    actor: actorOf(b),
  });
  const remark = (b: Record<string, unknown>) => (b['remark'] !== undefined ? { remark: b['remark'] as string } : {});
  const changes: Record<string, (b: Record<string, unknown>) => Promise<Operation>> = {
    balance: (b) => operations.adjustBalance({ ...target(b), amount: b['amount'] as number, ...remark(b) }),
    points: (b) => operations.adjustPoints({ ...target(b), amount: b['amount'] as number, ...remark(b) }),
    level: (b) => operations.setLevel({ ...target(b), level: b['level'] as string }),
    'membership-number': (b) =>
      operations.setMembershipNumber({ ...target(b), membershipNumber: b['membership_number'] as string }),
  };
  for (const [route, change] of Object.entries(changes)) {
    router.post(`/admin/${route}`, guard, body, async (ctx) => {
      const b = bodyOf(ctx);
      onlyKnown(b, route);
      ctx.body = { operation: operationJson(await httpNames(() => change(b))) };
    });
  }

  // A user bound to a code by hand, after the merchant's own check (docs/operations.md).
  router.post('/admin/bindings', guard, body, async (ctx) => {
    const b = bodyOf(ctx);
    onlyKnown(b, 'bindings');
    const { binding, changed } = await httpNames(() =>
      bindings.bind({
        code: b['code'] as string,
        user: b['user'] as { openid: string; unionid?: string },
        actor: actorOf(b),
      }),
    );
    ctx.body = { binding: bindingJson(binding), changed };
  });

  router.get('/admin/history', guard, async (ctx) => {
    const code = ctx.query['code'];
    const rawLimit = ctx.query['limit'];
    if (rawLimit !== undefined && (typeof rawLimit !== 'string' || !/^\d{1,4}$/.test(rawLimit)))
      throw invalid('limit', 'must be a whole number 1-500');
    const entries = await httpNames(() =>
      operations.history({ code: code as string, ...(rawLimit !== undefined ? { limit: Number(rawLimit) } : {}) }),
    );
    ctx.body = { data: entries.map(auditJson) };
  });

  router.get('/admin/operations/:request_id', guard, async (ctx) => {
    const op = await httpNames(() => operations.get(ctx.params['request_id'] as string));
    if (!op) throw new MemberCardError('NOT_FOUND', 'No operation with this request_id.');
    ctx.body = { operation: operationJson(op) };
  });
}
