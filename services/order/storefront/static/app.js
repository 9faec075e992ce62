/**
 * topup's reference storefront: the example frontend teams copy.
 *
 * It uses only the order service's public API (services/order/API.md), from the same origin:
 * no private endpoint, no framework, no build step; plain ES modules the browser loads as they
 * are. Two addresses serve this page:
 *   /                        sign in or register; the balance, its expiring credit and the
 *                            statement; choose a top-up, confirm it, go to the payment page
 *   /return?order_id=ord_…   where the payment page sends the customer back: the result, the
 *                            timeline, the receipt (also any order of the customer's)
 * Modules: i18n.js (words in en and zh-CN, amounts and dates), api.js (requests, the token,
 * long polling), dom.js (building elements), account.js (signing in), home.js (balance,
 * statement, choosing), topup.js (confirming, paying), order.js (an order and its receipt).
 */

import { session, whenSignedOut, get, patch } from './api.js';
import { h, show, alertBox, say } from './dom.js';
import { LANGUAGES, language, negotiate, setLanguage, t } from './i18n.js';
import { signIn } from './account.js';
import { home } from './home.js';
import { orderView } from './order.js';

const LANGUAGE = 'topup.language';
const main = document.getElementById('app');
const header = document.getElementById('header');

let current = null; // the view shown: (app, signal) => Node | Promise<Node>
let controller = null;

export const app = {
  profile: null,

  /** Show a view; whatever the previous one still waited for is abandoned. */
  async show(view) {
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    current = view;
    show(main, h('p', { class: 'muted' }, t('loading')));
    try {
      const node = await view(app, signal);
      if (!signal.aborted) show(main, node);
    } catch (error) {
      if (signal.aborted) return;
      const box = alertBox();
      say(box, error.message);
      show(main, box, h('button', { type: 'button', onclick: () => app.show(view) }, t('try_again')));
    }
    window.scrollTo(0, 0);
  },

  /** The page the address names, for the signed-in customer (or the sign-in form). */
  route(notice) {
    if (!session.token) return app.show((a) => signIn(a, notice));
    return app.show(async (a, signal) => {
      if (!a.profile) {
        a.profile = await get('/v1/me', signal);
        useLanguage(a.profile.language);
      }
      if (location.pathname === '/return') {
        return orderView(a, new URLSearchParams(location.search).get('order_id'), signal);
      }
      return home(a, signal);
    });
  },

  /** Go to another address of this page without loading it again (the same one: refresh it). */
  go(path) {
    if (`${location.pathname}${location.search}` === path) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
    app.route();
  },

  signOut(notice) {
    session.token = null;
    app.profile = null;
    drawHeader();
    app.route(notice);
  },
};

function useLanguage(chosen) {
  setLanguage(chosen);
  localStorage.setItem(LANGUAGE, language());
  drawHeader();
}

/** The customer switches language: the page follows at once, and so does the profile (so that
 * the payment pages, emails and receipts are in it too). */
async function switchLanguage(chosen) {
  useLanguage(chosen);
  if (session.token && app.profile && app.profile.language !== chosen) {
    try {
      app.profile = await patch('/v1/me', { language: chosen });
    } catch (error) {
      // the page is in the new language anyway; the view below shows what the API says
    }
  }
  if (current) app.show(current);
}

function drawHeader() {
  show(header,
    h('a', { class: 'brand', href: '/' }, 'topup'),
    h('nav', { class: 'languages', 'aria-label': 'Language / 语言' },
      Object.entries(LANGUAGES).map(([code, name]) => h('button', {
        type: 'button', lang: code, 'aria-pressed': String(code === language()),
        onclick: () => switchLanguage(code),
      }, name))),
    session.token ? h('button', { type: 'button', class: 'link', onclick: () => app.signOut() }, t('sign_out')) : null);
}

whenSignedOut(() => app.signOut(t('signed_out')));
window.addEventListener('popstate', () => app.route());
// Back from the payment page may restore this page as it was left: look again instead.
window.addEventListener('pageshow', (event) => { if (event.persisted) app.route(); });

setLanguage(localStorage.getItem(LANGUAGE) || negotiate(navigator.language));
drawHeader();
app.route();
