import type Router from '@koa/router';
import type { Context } from 'koa';
import { MemberCardError } from '../errors.js';
import { requireUser } from '../identity.js';
import type { MemberCodes } from '../member-codes/member-codes.js';
import type { AdminAuthorizer } from '../options.js';
import { invalid } from '../operations/validate.js';
import type { Runtime } from '../runtime.js';
import { adminGuard } from './admin.js';
import { jsonBody, rejectIdentifyingQuery } from './body.js';

/**
 * GET /code: the caller's member code for the till. POST /admin/codes/verify { code }: the till
 * (the merchant's server, past authorizeAdmin) turns a code into the card, once.
 */
export function mountMemberCode(
  router: Router,
  rt: Runtime,
  codes: MemberCodes,
  authorize: AdminAuthorizer | undefined,
): void {
  router.get('/code', async (ctx) => {
    rejectIdentifyingQuery(ctx);
    const user = await requireUser(ctx, rt.options.identity);
    const answer = await codes.issue(user, ctx);
    // A code is for one screen, once: no cache anywhere may keep it.
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = answer;
  });

  if (!authorize) return;
  router.post('/admin/codes/verify', adminGuard(rt, authorize), jsonBody(rt.options.bodyLimit), async (ctx) => {
    ctx.body = { card: await codes.verify(codeOf(ctx)) };
  });
}

function codeOf(ctx: Context): unknown {
  const body = ctx.request.body as unknown;
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new MemberCardError('INVALID_REQUEST', 'Send a JSON object { code }.');
  const unknown = Object.keys(body).find((k) => k !== 'code');
  if (unknown !== undefined) throw invalid(unknown, 'is not a field of POST /admin/codes/verify (allowed: code)');
  return (body as { code?: unknown }).code;
}
