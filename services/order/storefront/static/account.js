// Signing in: log in, or register and then log in (POST /v1/auth/register, /v1/auth/login).

import { logIn, post } from './api.js';
import { alertBox, h, say, show } from './dom.js';
import { language, region, t } from './i18n.js';

// The countries the order service has rules for (services/order/domain/catalog.py); another
// is refused with 422 unsupported_country, whose words are shown.
const COUNTRIES = ['AT', 'AU', 'BE', 'CA', 'CH', 'CN', 'DE', 'ES', 'FI', 'FR', 'GB', 'HK', 'IE', 'IT', 'JP', 'KR',
  'NL', 'PT', 'SG', 'TH', 'US'];

function guessCountry() {
  const tag = navigator.language || '';
  const guessed = tag.split('-')[1]?.toUpperCase();
  if (COUNTRIES.includes(guessed)) return guessed;
  return tag.toLowerCase().startsWith('zh') ? 'CN' : 'DE';
}

function field(id, label, input, hint) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint ? h('p', { class: 'hint' }, hint) : null);
}

export function signIn(app, notice) {
  const root = h('section', { class: 'card' });
  const draw = (registering) => {
    const box = alertBox();
    const email = h('input', { id: 'email', type: 'email', autocomplete: 'email', required: true });
    const password = h('input', {
      id: 'password', type: 'password', required: true,
      autocomplete: registering ? 'new-password' : 'current-password',
    });
    const names = COUNTRIES.map((code) => [code, region(code)]).sort((a, b) => a[1].localeCompare(b[1], language()));
    const country = h('select', { id: 'country', autocomplete: 'country' },
      names.map(([code, name]) => h('option', { value: code, selected: code === guessCountry() }, name)));
    const submit = h('button', { type: 'submit', class: 'primary' }, registering ? t('register') : t('log_in'));
    const form = h('form', {
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        say(box, '');
        try {
          if (registering) {
            await post('/v1/auth/register', {
              email: email.value, password: password.value, country: country.value, language: language(),
            });
          }
          await logIn(email.value, password.value);
          app.route();
        } catch (problem) {
          say(box, problem.message);
          submit.disabled = false;
        }
      },
    },
    field('email', t('email'), email),
    field('password', t('password'), password, registering ? t('password_hint') : null),
    registering ? field('country', t('country'), country) : null,
    box, submit);
    show(root,
      h('h1', {}, registering ? t('register') : t('log_in')),
      notice && !registering ? h('p', { class: 'notice' }, notice) : null,
      form,
      h('button', { type: 'button', class: 'link', id: 'switch', onclick: () => draw(!registering) },
        registering ? t('to_log_in') : t('to_register')));
  };
  draw(false);
  return root;
}
