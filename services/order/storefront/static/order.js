// One order, as the customer comes back to it from the payment page (/return?order_id=…):
// its result (followed by long polling until it ends), why it failed, its timeline with every
// declined attempt, and once completed its receipt (GET /v1/orders/{id}/receipt, 404
// receipt_not_found for the moment it takes to be issued). Not yet paid, it can be paid or
// cancelled (POST /v1/orders/{id}/cancel).

import { ENDED, follow, get, post, sleep } from './api.js';
import { alertBox, facts, h, say, show } from './dom.js';
import { date, dateTime, money, named, t } from './i18n.js';

const RECEIPT_TRIES = 30;
const CANCELLABLE = new Set(['pending', 'awaiting_payment']);

export function cancelButton(app, orderId, box) {
  const button = h('button', {
    type: 'button', class: 'danger', id: 'cancel',
    onclick: async () => {
      button.disabled = true;
      say(box, '');
      try {
        await post(`/v1/orders/${encodeURIComponent(orderId)}/cancel`);
        app.go(`/return?order_id=${encodeURIComponent(orderId)}`);
      } catch (problem) {
        say(box, problem.message);
        button.disabled = false;
      }
    },
  }, t('cancel_topup'));
  return button;
}

export async function orderView(app, orderId, signal) {
  if (!orderId) {
    return h('section', { class: 'card' }, h('p', {}, t('no_order')), h('a', { href: '/' }, t('back_home')));
  }
  const root = h('section', { class: 'card order' });
  const box = alertBox();
  const receipt = h('div', { class: 'receipt-slot' });
  const draw = (order) => show(root, ...drawOrder(app, order, box), receipt,
    h('p', {}, h('a', { href: '/', class: 'back' }, t('back_home'))));
  let drawn;
  let failed;
  const shown = new Promise((resolve, reject) => { drawn = resolve; failed = reject; });
  const ended = follow(orderId, (order) => ENDED.has(order.status), (order) => { draw(order); drawn(); }, signal);
  ended.catch(failed);
  await shown; // the first answer is on the page before the view returns; the rest as they come
  ended.then((order) => order.status === 'completed' && showReceipt(receipt, orderId, signal))
    .catch((problem) => { if (!signal.aborted) say(box, problem.message); });
  return root;
}

function drawOrder(app, order, box) {
  const { currency } = order;
  const paidWith = order.payment?.card_last4
    ? `${capitalized(order.payment.card_brand || '')} •••• ${order.payment.card_last4}` : named('method', order.method);
  const waiting = !ENDED.has(order.status) && !order.next_action;
  return [
    h('h1', { id: 'status', 'data-status': order.status }, named('heading', order.status)),
    h('p', {}, h('span', { class: `status ${order.status}` }, named('status', order.status))),
    order.failure_reason ? h('p', { class: 'reason', 'data-reason': order.failure_reason },
      named('reason', order.failure_reason)) : null,
    waiting ? h('p', { class: 'muted', role: 'status' }, t('refreshing')) : null,
    box,
    CANCELLABLE.has(order.status) ? h('div', { class: 'actions' },
      order.next_action ? h('a', { class: 'button primary', href: order.next_action.url, id: 'continue_payment' },
        t('continue_payment')) : null,
      cancelButton(app, order.order_id, box)) : null,
    h('h2', {}, t('details')),
    facts([
      [t('topup_amount'), money(order.credit_amount, currency)],
      [t('payment_amount'), money(order.charge_amount, currency)],
      [t('promotion'), order.promotion_name || t('no_promotion')],
      [t('valid_until'), order.valid_until ? date(order.valid_until) : null],
      [t('method'), paidWith],
    ]),
    h('p', { class: 'order-id muted' }, t('order', { id: order.order_id })),
    h('h2', {}, t('timeline')),
    h('ol', { class: 'timeline' }, order.timeline.map((entry) => h('li', { 'data-event': entry.event },
      h('span', {}, named('event', entry.event)),
      entry.reason ? h('span', { class: 'reason' }, named('reason', entry.reason)) : null,
      h('time', { datetime: entry.at, class: 'muted' }, dateTime(entry.at))))),
  ];
}

function capitalized(word) {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** The receipt is issued a moment after the top-up completes: wait for it, a little. */
async function showReceipt(slot, orderId, signal) {
  show(slot, h('p', { class: 'muted', role: 'status' }, t('receipt_waiting')));
  for (let attempt = 0; attempt < RECEIPT_TRIES; attempt += 1) {
    try {
      const receipt = await get(`/v1/orders/${encodeURIComponent(orderId)}/receipt`, signal);
      show(slot, drawReceipt(receipt));
      return;
    } catch (problem) {
      if (signal.aborted || problem.code !== 'receipt_not_found') throw problem;
    }
    await sleep(1000, signal);
  }
  show(slot, h('p', { class: 'muted' }, t('receipt_later')));
}

function drawReceipt(receipt) {
  const { currency, merchant } = receipt;
  return h('div', { class: 'receipt', id: 'receipt', lang: receipt.language },
    h('h2', {}, t('receipt')),
    facts([
      [t('receipt_number'), h('span', { id: 'receipt_number' }, receipt.receipt_number)],
      [t('issued'), dateTime(receipt.issued_at, receipt.time_zone)],
    ]),
    h('table', { class: 'lines' }, h('tbody', {}, receipt.lines.map((line) => h('tr', {},
      h('td', {}, line.description), h('td', { class: 'num' }, money(line.amount, currency))))),
    h('tfoot', {}, h('tr', {}, h('th', {}, t('total_charged')),
      h('td', { class: 'num' }, money(receipt.total_charged, currency))))),
    facts([
      [t('credited'), money(receipt.credited, currency)],
      [t('valid_until'), receipt.valid_until ? date(receipt.valid_until) : null],
      [t('method'), receipt.payment_method],
      [t('merchant'), [merchant?.name, merchant?.address].filter(Boolean).join(', ')],
      [t('tax_id'), merchant?.tax_id],
    ]));
}
