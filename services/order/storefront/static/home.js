// The signed-in customer's page: the balance and its expiring credit, choosing a top-up,
// the statement and the latest top-ups (GET /v1/balance, /v1/topup-options,
// /v1/balance/entries, /v1/orders).

import { get } from './api.js';
import { alertBox, h, say } from './dom.js';
import { date, dateTime, exponent, money, named, parseAmount, t } from './i18n.js';
import { confirm } from './topup.js';

export async function home(app, signal, choice = {}) {
  const [balance, options, statement, orders] = await Promise.all([
    get('/v1/balance', signal), get('/v1/topup-options', signal),
    get('/v1/balance/entries?limit=10', signal), get('/v1/orders?limit=5', signal)]);
  return h('div', { class: 'stack' },
    balanceCard(balance), chooser(app, options, choice), statementCard(statement, signal), ordersCard(orders));
}

function balanceCard(balance) {
  return h('section', { class: 'card balance' },
    h('h1', {}, t('balance')),
    h('p', { class: 'amount', id: 'balance' }, money(balance.amount, balance.currency)),
    balance.status === 'frozen'
      ? h('p', { class: 'alert' }, `${t('frozen')}: ${balance.frozen_reason?.message || ''}`) : null,
    h('h2', {}, t('expiring')),
    balance.expiring.length
      ? h('ul', { class: 'plain', id: 'expiring' }, balance.expiring.map((credit) => h('li', {},
        h('span', {}, money(credit.amount, balance.currency)),
        h('span', { class: 'muted' }, t('expires_on', { date: date(credit.expires_at) })))))
      : h('p', { class: 'muted' }, t('no_credit')));
}

function tile(name, value, label, checked) {
  return h('label', { class: 'tile' },
    h('input', { type: 'radio', name, value, checked }), h('span', {}, label));
}

/** Choosing a top-up: a preset or another amount, a method, maybe a promo code. */
function chooser(app, options, choice) {
  const { currency } = options;
  const box = alertBox();
  const presets = options.preset_amounts;
  const picked = choice.amount ?? presets[Math.min(1, presets.length - 1)];
  const isPreset = presets.includes(picked);
  const other = h('input', {
    id: 'other_amount', inputmode: 'decimal', autocomplete: 'off',
    value: isPreset ? '' : String(picked / 10 ** exponent(currency)),
    'aria-label': t('other_amount'),
    oninput: () => { form.elements.amount.value = 'other'; },
  });
  const promo = h('input', { id: 'promo_code', autocomplete: 'off', value: choice.promo_code || '' });
  const range = { min: money(options.min_amount, currency), max: money(options.max_amount, currency) };
  const form = h('form', {
    novalidate: true,
    onsubmit: (event) => {
      event.preventDefault();
      const selected = form.elements.amount.value;
      const amount = selected === 'other' ? parseAmount(other.value, currency) : Number(selected);
      if (!amount) {
        say(box, t('amount_invalid', range));
        other.focus();
        return;
      }
      const chosen = { amount, currency, method: form.elements.method.value, promo_code: promo.value.trim() || null };
      app.show((a, s) => confirm(a, chosen, s));
    },
  },
  h('fieldset', {},
    h('legend', {}, t('amount')),
    h('div', { class: 'tiles' }, presets.map((amount) => tile('amount', amount, money(amount, currency), amount === picked))),
    h('label', { class: 'tile other' }, h('input', { type: 'radio', name: 'amount', value: 'other', checked: !isPreset }),
      h('span', {}, t('other_amount')), other),
    h('p', { class: 'hint' }, t('amount_range', range))),
  h('fieldset', {},
    h('legend', {}, t('method')),
    h('div', { class: 'tiles' }, options.methods.map((method, i) => tile('method', method, named('method', method),
      choice.method ? choice.method === method : i === 0)))),
  h('div', { class: 'field' }, h('label', { for: 'promo_code' }, t('promo_code')), promo),
  options.promotions.length ? h('div', { class: 'promotions' }, h('h3', {}, t('promotions')),
    h('ul', { class: 'plain' }, options.promotions.map((p) => h('li', {}, h('strong', {}, p.name), h('br'),
      h('span', { class: 'muted' }, p.description))))) : null,
  h('p', { class: 'hint' }, t('valid_note', { date: date(options.valid_until) })),
  box,
  h('button', { type: 'submit', class: 'primary', id: 'continue' }, t('continue')));
  return h('section', { class: 'card' }, h('h2', {}, t('top_up')), form);
}

function entryRow(entry) {
  return h('li', { class: 'entry', 'data-kind': entry.kind },
    h('div', {}, h('span', {}, entry.description || entry.kind),
      h('span', { class: entry.amount < 0 ? 'minus' : 'plus' },
        money(entry.amount, entry.currency, { signDisplay: 'exceptZero' }))),
    h('div', { class: 'muted' }, h('span', {}, dateTime(entry.occurred_at)),
      h('span', {}, t('balance_after', { amount: money(entry.balance_after, entry.currency) }))));
}

function statementCard(statement, signal) {
  const list = h('ul', { class: 'plain entries', id: 'statement' }, statement.entries.map(entryRow));
  const box = alertBox();
  let cursor = statement.next_cursor;
  const more = h('button', {
    type: 'button', class: 'link', hidden: !cursor,
    onclick: async () => {
      try {
        const page = await get(`/v1/balance/entries?limit=10&cursor=${encodeURIComponent(cursor)}`, signal);
        list.append(...page.entries.map(entryRow));
        cursor = page.next_cursor;
        more.hidden = !cursor;
      } catch (problem) {
        say(box, problem.message);
      }
    },
  }, t('more'));
  return h('section', { class: 'card' }, h('h2', {}, t('statement')),
    statement.entries.length ? list : h('p', { class: 'muted' }, t('no_entries')), box, more);
}

function ordersCard({ orders }) {
  return h('section', { class: 'card' }, h('h2', {}, t('your_topups')),
    orders.length ? h('ul', { class: 'plain orders' }, orders.map((order) => h('li', {},
      h('a', { href: `/return?order_id=${encodeURIComponent(order.order_id)}`, 'data-order': order.order_id },
        h('span', {}, money(order.credit_amount, order.currency)),
        h('span', { class: `status ${order.status}` }, named('status', order.status)),
        h('span', { class: 'muted' }, dateTime(order.created_at))))))
      : h('p', { class: 'muted' }, t('no_topups')));
}
