// The operator console (services/order/console/__init__.py): the support desk's calls, as a page.
//
// The operator's token lives in sessionStorage (this tab only) and travels in the
// Authorization header. Every action asks for a reason and a confirmation; what was done is
// then on the top-up's timeline under the operator's name (services/order/API.md).

import { alertBox, facts, h, say, show } from '/storefront/dom.js';

const TOKEN = 'topup.operator';
const app = document.getElementById('app');

class Refused extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
  }
}

/** Where the payment and wallet operator APIs are, from the console's config. */
const services = { order: '' };

async function call(method, path, body = null, headers = {}, service = 'order') {
  const response = await fetch(services[service] + path, {
    method,
    headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN)}`, 'Content-Type': 'application/json',
      ...headers },
    body: body === null ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Refused(response.status, data);
  return data;
}

function money(amount, currency) {
  const format = new Intl.NumberFormat('en', { style: 'currency', currency });
  return format.format(amount / 10 ** format.resolvedOptions().maximumFractionDigits);
}

const when = (moment) => (moment ? new Date(moment).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : '');

function link(orderId) {
  return h('a', { href: `#${orderId}`, onclick: (event) => { event.preventDefault(); openOrder(orderId); } }, orderId);
}

function ordersTable(orders) {
  if (!orders.length) return h('p', { class: 'muted' }, 'None.');
  return h('table', {},
    h('tr', {}, ['order', 'status', 'amount', 'method', 'why', 'placed'].map((name) => h('th', {}, name))),
    orders.map((order) => h('tr', {},
      h('td', {}, link(order.order_id)),
      h('td', {}, h('span', { class: order.needs_operator ? 'tag flag' : 'tag' }, order.status)),
      h('td', {}, money(order.credit_amount, order.currency)),
      h('td', {}, order.method),
      h('td', {}, order.failure_reason || ''),
      h('td', {}, when(order.created_at)))));
}

/**
 * A button that asks for a confirmation, then calls the API with the form's values; `inputs`
 * are read when clicked ({name: input}); every action needs a reason of a few words.
 */
function action(label, confirmText, box, inputs, send, after) {
  return h('button', {
    class: 'quiet',
    onclick: async () => {
      const values = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.value.trim()]));
      if ('reason' in values && values.reason.length < 3) return say(box, 'Say why first.');
      if (!window.confirm(confirmText(values))) return;
      try {
        after(await send(values), values);
      } catch (error) {
        say(box, error.message);
      }
    },
  }, label);
}

function signIn(problem = '') {
  const box = alertBox();
  const token = h('input', { id: 'token', type: 'password', autocomplete: 'off', placeholder: 'operator token' });
  show(app, h('section', {},
    h('h1', {}, 'Sign in'),
    h('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN, token.value.trim());
        try {
          await call('GET', '/v1/operator/orders?limit=1');
          home();
        } catch (error) {
          sessionStorage.removeItem(TOKEN);
          say(box, error.status === 401 ? 'That is not an operator\'s token.' : error.message);
        }
      },
    }, token, h('button', { type: 'submit' }, 'Sign in')),
    box));
  say(box, problem);
}

async function home() {
  const box = alertBox();
  const query = h('input', { id: 'search', placeholder: 'customer email, or an order id (ord_…)' });
  const results = h('div', { id: 'results' });
  const waiting = h('section', { id: 'waiting' }, h('h2', {}, 'Waiting for an operator'), h('p', {}, '…'));
  const parked = h('section', { id: 'parked' }, h('h2', {}, 'Parked messages'), h('p', {}, '…'));
  show(app,
    h('section', {},
      h('form', {
        onsubmit: (event) => { event.preventDefault(); search(query.value.trim(), results, box); },
      }, query, h('button', { type: 'submit' }, 'Find')),
      box),
    results, waiting, parked);
  try {
    const listed = await call('GET', '/v1/operator/orders?needs_operator=true&limit=50');
    show(waiting, h('h2', {}, 'Waiting for an operator'), ordersTable(listed.orders));
    const held = await call('GET', '/v1/operator/parked');
    show(parked, h('h2', {}, `Parked messages: ${held.total}`),
      held.total ? [h('table', {}, Object.entries(held.queues).map(([queue, count]) =>
        h('tr', {}, h('td', {}, queue), h('td', {}, String(count))))),
      h('p', { class: 'muted' }, 'Read, replay or discard them with make parked (deploy/parked.py).')]
        : h('p', { class: 'muted' }, 'None: every message was handled.'));
  } catch (error) {
    if (error.status === 401) return signIn('The sign-in ended.');
    show(waiting, h('p', { class: 'alert' }, error.message));
  }
}

async function search(text, results, box) {
  say(box, '');
  if (!text) return;
  if (text.startsWith('ord_')) return openOrder(text);
  try {
    const found = await call('GET', `/v1/operator/customers?email=${encodeURIComponent(text)}`);
    if (!found.customers.length) return show(results, h('section', {}, h('p', {}, `No customer with the email ${text}.`)));
    const customer = found.customers[0];
    show(results, h('section', { id: 'customer' },
      h('h2', {}, customer.email),
      facts([['customer', customer.customer_id], ['country', customer.country], ['language', customer.language],
        ['account', `${customer.account.status}${customer.account.frozen_reason ? ` (${customer.account.frozen_reason})` : ''}`],
        ['balance', money(customer.account.balance, customer.account.currency)]]),
      h('h2', {}, 'Newest top-ups'), ordersTable(customer.recent_orders),
      adjustForm(customer, results, box)));
  } catch (error) {
    say(box, error.message);
  }
}

function adjustForm(customer, results, box) {
  const amount = h('input', { id: 'adjust-amount', type: 'number', step: '1', placeholder: 'amount, minor units (− to take off)' });
  const reason = h('input', { id: 'adjust-reason', placeholder: 'why (kept with your name)' });
  const key = crypto.randomUUID(); // one per view: a second click is the same adjustment
  const done = h('p', { class: 'done', role: 'status' });
  const currency = customer.account.currency;
  return h('div', { id: 'adjust' },
    h('h2', {}, 'Adjust the balance'),
    h('form', { onsubmit: (event) => event.preventDefault() }, amount, reason,
      action('Adjust', ({ amount: value }) => `Adjust ${customer.email}'s balance by ${money(Number(value), currency)}?`,
        box, { amount, reason },
        ({ amount: value, reason: why }) => call('POST', `/v1/accounts/${customer.customer_id}/adjustments`,
          { amount: Number(value), currency, reason: why }, { 'Idempotency-Key': key }, 'wallet'),
        (adjusted) => { done.textContent = `Adjusted: the balance is ${money(adjusted.balance_after, currency)}.`; })),
    done);
}

async function openOrder(orderId, done = '') {
  let order;
  try {
    order = await call('GET', `/v1/operator/orders/${encodeURIComponent(orderId)}`);
  } catch (error) {
    return show(app, h('section', {}, h('p', { class: 'alert' }, error.message), h('a', { onclick: home }, 'Back')));
  }
  const box = alertBox();
  const reason = h('input', { id: 'reason', placeholder: 'why (kept on the timeline with your name)' });
  const key = crypto.randomUUID(); // one per view: a second click is the same request
  const act = (label, confirmText, path, headers = {}) => action(label, () => confirmText, box, { reason },
    (values) => call('POST', path, values, headers), () => openOrder(orderId, `${label}: done.`));
  const base = `/v1/operator/orders/${encodeURIComponent(orderId)}`;
  const payment = order.payment_detail;
  const actions = [
    ['pending', 'awaiting_payment'].includes(order.status)
      && act('Cancel the top-up', `Cancel ${orderId} for the customer?`, `${base}/cancel`),
    order.receipt && act('Resend the receipt', `Email a copy of receipt ${order.receipt.receipt_number}?`,
      `${base}/receipt/resend`, { 'Idempotency-Key': key }),
    order.needs_operator && payment.refund === 'failed'
      && act('Retry the refund', `Ask the gateway to refund ${orderId} again?`, `${base}/retry-refund`),
  ].filter(Boolean);
  show(app,
    h('p', {}, h('a', { onclick: home }, '← Search')),
    h('section', { id: 'order' },
      h('h1', {}, orderId, ' ', h('span', { class: order.needs_operator ? 'tag flag' : 'tag', id: 'status' }, order.status)),
      facts([['customer', order.customer_id], ['credit', money(order.credit_amount, order.currency)],
        ['charged', money(order.charge_amount, order.currency)], ['method', payment.method],
        ['card', payment.card_last4 ? `${payment.card_brand} ···· ${payment.card_last4}` : null],
        ['payment', payment.payment_id], ['declined tries', payment.declined_attempts.map((a) => a.reason).join(', ')],
        ['refund', payment.refund], ['why it ended', order.failure_reason],
        ['receipt', order.receipt ? `${order.receipt.receipt_number}${order.receipt.emailed ? ', emailed' : ', not emailed yet'}` : null],
        ['on the balance', order.wallet_entries.map((e) => `${e.kind} ${money(e.amount, order.currency)}`).join(', ')]])),
    h('section', {},
      h('h2', {}, 'Timeline'),
      h('table', { id: 'timeline' },
        h('tr', {}, ['when', 'what', 'status', 'why', 'by', 'note'].map((name) => h('th', {}, name))),
        order.timeline.map((step) => h('tr', {},
          h('td', {}, when(step.at)), h('td', {}, step.event), h('td', {}, step.status), h('td', {}, step.reason || ''),
          h('td', {}, step.operator || ''), h('td', {}, step.note || ''))))),
    h('section', { id: 'actions' },
      h('h2', {}, 'Act'),
      actions.length ? [h('form', { onsubmit: (event) => event.preventDefault() }, reason, actions)]
        : h('p', { class: 'muted' }, 'Nothing to do here from the order service.'),
      payment.payment_id && paymentActions(orderId, payment, box),
      h('p', { class: 'done', role: 'status' }, done),
      box));
}

function paymentActions(orderId, payment, box) {
  const base = `/v1/payments/${payment.payment_id}`;
  const reference = h('input', { id: 'reference', placeholder: "the gateway's reference of the refund" });
  const why = h('input', { id: 'refund-reason', placeholder: 'why (kept with your name)' });
  const syncWhy = h('input', { id: 'sync-reason', placeholder: 'why (kept on the timeline with your name)' });
  return h('div', { id: 'payment-actions' },
    h('h2', {}, 'At the payment service'),
    h('form', { onsubmit: (event) => event.preventDefault() }, syncWhy,
      action('Ask the gateway now', () => `Ask the gateway about ${payment.payment_id} now?`, box,
        { reason: syncWhy }, (values) => call('POST', `${base}/sync`, values, {}, 'payment'),
        (synced) => setTimeout(() => openOrder(orderId, synced.news ? 'The gateway\'s answer was applied.'
          : 'Nothing new from the gateway.'), 500))),
    payment.refund === 'failed' && h('form', { onsubmit: (event) => event.preventDefault() }, reference, why,
      action('Record a refund made by hand', ({ gateway_reference: ref }) => `Record refund ${ref} for ${orderId}?`,
        box, { gateway_reference: reference, reason: why },
        (values) => call('POST', `${base}/refund/settled`, values, {}, 'payment'),
        () => setTimeout(() => openOrder(orderId, 'The refund was recorded.'), 500))));
}

fetch('/operator/config.json').then((response) => response.json()).then((config) => {
  Object.assign(services, config);
  if (sessionStorage.getItem(TOKEN)) home(); else signIn();
});
