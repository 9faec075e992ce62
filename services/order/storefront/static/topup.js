// Confirming a top-up and going to pay: POST /v1/quotes shows what will be credited and
// charged; POST /v1/orders (with an Idempotency-Key) places it; the order is followed until
// its payment page is ready (next_action), and the browser goes there. The payment page
// sends the customer back to /return?order_id=… (order.js).

import { ENDED, follow, newKey, post } from './api.js';
import { alertBox, facts, h, say } from './dom.js';
import { date, money, named, t, time } from './i18n.js';
import { home } from './home.js';
import { cancelButton, orderView } from './order.js';

export async function confirm(app, choice, signal) {
  const { amount, currency, method, promo_code: promoCode } = choice;
  let quote;
  try {
    quote = await post('/v1/quotes', { amount, currency, method, ...(promoCode ? { promo_code: promoCode } : {}) });
  } catch (problem) {
    if (problem.status !== 422 && problem.status !== 403) throw problem;
    // a refusal about the choice (amount, promo code...): back to choosing, with its words
    const page = await home(app, signal, choice);
    const box = page.querySelector('form .alert');
    say(box, problem.message);
    return page;
  }
  // One key per confirmation: a click repeated after an error places the same order, once.
  const key = newKey();
  const box = alertBox();
  const pay = h('button', {
    type: 'button', class: 'primary', id: 'pay',
    onclick: async () => {
      pay.disabled = true;
      say(box, '');
      try {
        // Prefer: wait — the answer comes once the payment page is ready, so no first poll.
        const order = await post('/v1/orders', { quote_id: quote.quote_id, return_url: `${location.origin}/return` },
          { 'Idempotency-Key': key, Prefer: 'wait=5' });
        app.show((a, s) => toPayment(a, order, s));
      } catch (problem) {
        say(box, problem.message);
        pay.disabled = false;
      }
    },
  }, t('pay', { amount: money(quote.charge_amount, quote.currency) }));
  return h('section', { class: 'card confirm' },
    h('h1', {}, t('confirm_title')),
    facts([
      [t('credited'), h('span', { id: 'credit_amount' }, money(quote.credit_amount, quote.currency))],
      [t('charged'), h('strong', { id: 'charge_amount' }, money(quote.charge_amount, quote.currency))],
      [t('promotion'), h('span', { id: 'promotion' }, quote.promotion_name || t('no_promotion'))],
      [t('valid_until'), h('span', { id: 'valid_until' }, quote.valid_until ? date(quote.valid_until) : '')],
      [t('method'), h('span', { id: 'method' }, named('method', quote.method))],
    ]),
    h('p', { class: 'hint' }, t('quote_expires', { time: time(quote.expires_at) })),
    box,
    h('div', { class: 'actions' }, pay,
      h('button', { type: 'button', onclick: () => app.show((a, s) => home(a, s, choice)) }, t('change'))));
}

/** Wait for the payment page, then go there. Back from it comes to this order's page. */
async function toPayment(app, placed, signal) {
  const status = h('p', { class: 'muted', role: 'status' }, t('preparing'));
  const box = alertBox();
  const here = `/return?order_id=${encodeURIComponent(placed.order_id)}`;
  const ready = (order) => order.next_action || ENDED.has(order.status);
  (ready(placed) ? Promise.resolve(placed) : follow(placed.order_id, ready, () => {}, signal))
    .then((order) => {
      history.replaceState(null, '', here);
      if (order.next_action) location.assign(order.next_action.url);
      else app.show((a, s) => orderView(a, order.order_id, s));
    })
    .catch((problem) => { if (!signal.aborted) say(box, problem.message); });
  return h('section', { class: 'card' },
    h('h1', {}, named('heading', 'pending')),
    h('p', { class: 'amount' }, money(placed.charge_amount, placed.currency)),
    status, box,
    h('div', { class: 'actions' }, cancelButton(app, placed.order_id, box)));
}
