import type Router from '@koa/router';
import { MemberCardError } from '../errors.js';
import { requireUser } from '../identity.js';
import type { Runtime } from '../runtime.js';
import { notOffered, orderJson, type TopupService } from '../topup/topups.js';
import { jsonBody, rejectIdentifyingQuery } from './body.js';
import { loadOwnCard } from './my-card.js';

/**
 * GET /topup: what may be paid. POST /topup {amount}: a JSAPI order for the caller's own effective
 * card (or the pending one of the same tap), answered with wx.requestPayment's parameters. GET
 * /topup/{id}: the caller's order, which the mini-program polls after paying.
 */
export function mountTopup(router: Router, rt: Runtime, topups: TopupService): void {
  router.get('/topup', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = topups.offers();
  });

  const readBody = jsonBody(rt.options.bodyLimit);
  router.post('/topup', async (ctx) => {
    rejectIdentifyingQuery(ctx);
    const user = await requireUser(ctx, rt.options.identity);
    await readBody(ctx, async () => {});
    const body = ctx.request.body as unknown;
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw new MemberCardError('INVALID_REQUEST', 'Send a JSON object: { "amount": fen }.');
    const extra = Object.keys(body).find((field) => field !== 'amount');
    if (extra !== undefined) {
      throw new MemberCardError('INVALID_REQUEST', `"${extra}" cannot be sent here.`, {
        details: [{ field: extra, issue: 'not allowed' }],
      });
    }
    const { amount } = body as { amount?: unknown };
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) {
      throw new MemberCardError('INVALID_REQUEST', '"amount" must be a whole number of fen.', {
        details: [{ field: 'amount', issue: 'must be a whole number of fen' }],
      });
    }
    // Checked before the card is read, so a bad amount costs no upstream call.
    if (!topups.offered(amount)) throw notOffered();
    const { card, code } = await loadOwnCard(ctx, rt, user);
    if (card.user_card_status !== 'EFFECTIVE') {
      throw new MemberCardError(
        'CARD_NOT_EDITABLE',
        `The card cannot be topped up while its status is ${card.user_card_status ?? 'unknown'}.`,
      );
    }
    const placed = await topups.order(user, code, amount);
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = { order: orderJson(placed.order), payment: placed.payment, reused: !placed.created };
  });

  router.get('/topup/:id', async (ctx) => {
    rejectIdentifyingQuery(ctx);
    const user = await requireUser(ctx, rt.options.identity);
    const order = await topups.view(user, String(ctx.params['id'] ?? ''));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = { order: orderJson(order) };
  });
}
