// The storefront's words in each language it speaks, and amounts and dates written for it.
//
// Every word the customer reads is here, once per language, keyed by a name; the API's own
// words (problem details, promotion names, statement descriptions, receipts) come already in
// the language sent as Accept-Language. Amounts and dates are formatted by the browser's
// Intl (CLDR), never by hand.

export const LANGUAGES = { en: 'English', 'zh-CN': '简体中文' };

const WORDS = {
  en: {
    title: 'Top up your balance',
    sign_out: 'Sign out',
    loading: 'Loading…',
    network_error: 'The service cannot be reached. Check your connection and try again.',
    try_again: 'Try again',
    back_home: 'Back to my balance',
    // signing in
    log_in: 'Log in',
    register: 'Create account',
    email: 'Email',
    password: 'Password',
    password_hint: 'At least 8 characters.',
    country: 'Country or region',
    to_register: 'New here? Create an account',
    to_log_in: 'Already registered? Log in',
    signed_out: 'Your sign-in has ended. Please log in again.',
    // the balance
    balance: 'Balance',
    frozen: 'Frozen',
    expiring: 'Expiring credit',
    expires_on: 'expires {date}',
    no_credit: 'No credit on your balance yet.',
    statement: 'Statement',
    no_entries: 'Nothing here yet.',
    balance_after: 'balance {amount}',
    more: 'Show more',
    your_topups: 'Your top-ups',
    no_topups: 'No top-ups yet.',
    // choosing a top-up
    top_up: 'Top up',
    amount: 'Amount',
    other_amount: 'Other amount',
    amount_range: 'From {min} to {max}.',
    amount_invalid: 'Enter an amount from {min} to {max}.',
    method: 'Payment method',
    promo_code: 'Promo code (optional)',
    promotions: 'Promotions',
    valid_note: 'Credit bought now is valid until {date}.',
    continue: 'Continue',
    // the confirmation
    confirm_title: 'Confirm your top-up',
    credited: 'Credited to your balance',
    charged: 'Charged',
    promotion: 'Promotion',
    no_promotion: 'None',
    valid_until: 'Valid until',
    quote_expires: 'This price holds until {time}.',
    pay: 'Pay {amount}',
    change: 'Change',
    preparing: 'Preparing your payment page…',
    // an order
    order: 'Order number {id}',
    details: 'Details',
    timeline: 'Timeline',
    topup_amount: 'Top-up amount',
    payment_amount: 'Payment amount',
    continue_payment: 'Continue to payment',
    cancel_topup: 'Cancel this top-up',
    refreshing: 'Still processing; this page updates by itself.',
    no_order: 'No top-up was named.',
    receipt: 'Receipt',
    receipt_number: 'Receipt no.',
    issued: 'Issued',
    total_charged: 'Total charged',
    merchant: 'Merchant',
    tax_id: 'Tax ID',
    receipt_waiting: 'Your receipt is being issued…',
    receipt_later: 'Your receipt is not ready yet; it is also emailed to you.',
    reason_unknown: 'Reason: {code}',
  },
  'zh-CN': {
    title: '余额充值',
    sign_out: '退出登录',
    loading: '加载中…',
    network_error: '无法连接到服务，请检查网络后重试。',
    try_again: '重试',
    back_home: '返回我的余额',
    log_in: '登录',
    register: '注册账户',
    email: '电子邮箱',
    password: '密码',
    password_hint: '至少 8 个字符。',
    country: '国家或地区',
    to_register: '新用户？注册账户',
    to_log_in: '已有账户？登录',
    signed_out: '登录已失效，请重新登录。',
    balance: '余额',
    frozen: '已冻结',
    expiring: '即将到期的余额',
    expires_on: '{date} 到期',
    no_credit: '您的余额中还没有充值。',
    statement: '账单明细',
    no_entries: '暂无记录。',
    balance_after: '余额 {amount}',
    more: '显示更多',
    your_topups: '我的充值',
    no_topups: '还没有充值记录。',
    top_up: '充值',
    amount: '金额',
    other_amount: '其他金额',
    amount_range: '{min} 至 {max}。',
    amount_invalid: '请输入 {min} 至 {max} 之间的金额。',
    method: '支付方式',
    promo_code: '优惠码（选填）',
    promotions: '优惠活动',
    valid_note: '现在充值的余额有效期至 {date}。',
    continue: '继续',
    confirm_title: '确认充值',
    credited: '充入余额',
    charged: '实付金额',
    promotion: '优惠',
    no_promotion: '无',
    valid_until: '有效期至',
    quote_expires: '此价格保留至 {time}。',
    pay: '支付 {amount}',
    change: '修改',
    preparing: '正在准备支付页面…',
    order: '订单号 {id}',
    details: '详情',
    timeline: '进度',
    topup_amount: '充值金额',
    payment_amount: '支付金额',
    continue_payment: '继续支付',
    cancel_topup: '取消本次充值',
    refreshing: '仍在处理中，本页会自动更新。',
    no_order: '未指定充值订单。',
    receipt: '收据',
    receipt_number: '收据编号',
    issued: '开具时间',
    total_charged: '实付合计',
    merchant: '商户',
    tax_id: '税号',
    receipt_waiting: '正在开具收据…',
    receipt_later: '收据尚未开具，稍后也会发送到您的邮箱。',
    reason_unknown: '原因：{code}',
  },
};

// Names of the API's codes: methods, statuses, timeline events and reasons.
const CODES = {
  en: {
    method: { card: 'Card', paypal: 'PayPal', alipay: 'Alipay', wechat_pay: 'WeChat Pay' },
    status: {
      pending: 'Pending', awaiting_payment: 'Awaiting payment', paid: 'Paid', completed: 'Completed',
      failed: 'Failed', expired: 'Expired', refunded: 'Refunded', cancelled: 'Cancelled',
    },
    heading: {
      pending: 'Preparing your payment', awaiting_payment: 'Waiting for your payment',
      paid: 'Payment received, crediting your balance', completed: 'Top-up complete',
      failed: 'Top-up failed', expired: 'Top-up expired', refunded: 'Payment refunded',
      cancelled: 'Top-up cancelled',
    },
    event: {
      placed: 'Top-up placed', credit_authorized: 'Balance checked', credit_refused: 'Balance refused the top-up',
      payment_created: 'Payment page ready', payment_attempt_failed: 'Payment attempt failed',
      payment_captured: 'Payment received', payment_failed: 'Payment failed', credited: 'Credited to your balance',
      credit_failed: 'Crediting failed', payment_refunded: 'Payment refunded', refund_failed: 'Refund delayed',
      refund_retried: 'Refund tried again', receipt_resent: 'Receipt sent again',
      payment_synced: 'Payment checked with the provider',
      payment_deadline_passed: 'Time to pay ran out',
      cancel_requested: 'Cancelled', receipt_sent: 'Receipt emailed',
    },
    reason: {
      card_declined: 'Your card was declined by its issuer.',
      insufficient_funds: 'There is not enough money on the card.',
      card_not_supported: 'This card is not supported.',
      payment_declined: 'The payment was declined.',
      cancelled_by_customer: 'You cancelled the payment.',
      cancelled_by_operator: 'Our support team cancelled this top-up.',
      payment_timeout: 'The payment was not made in time.',
      payment_failed: 'The payment could not be completed.',
      order_cancelled: 'The top-up was cancelled before the payment began.',
      account_frozen: 'Your account is frozen.',
      balance_cap_exceeded: 'The top-up would take your balance over its limit.',
      operator: 'At the request of our support team.',
    },
  },
  'zh-CN': {
    method: { card: '银行卡', paypal: 'PayPal', alipay: '支付宝', wechat_pay: '微信支付' },
    status: {
      pending: '处理中', awaiting_payment: '待支付', paid: '已支付', completed: '已完成',
      failed: '失败', expired: '已过期', refunded: '已退款', cancelled: '已取消',
    },
    heading: {
      pending: '正在准备支付', awaiting_payment: '等待您付款', paid: '已收到付款，正在充入余额',
      completed: '充值成功', failed: '充值失败', expired: '充值已过期', refunded: '款项已退回',
      cancelled: '充值已取消',
    },
    event: {
      placed: '已下单', credit_authorized: '余额已核验', credit_refused: '余额拒绝了本次充值',
      payment_created: '支付页面已就绪', payment_attempt_failed: '一次支付尝试失败',
      payment_captured: '已收到付款', payment_failed: '支付失败', credited: '已充入余额',
      credit_failed: '充入余额失败', payment_refunded: '款项已退回', refund_failed: '退款延迟',
      refund_retried: '已重新尝试退款', receipt_resent: '收据已重新发送',
      payment_synced: '已向支付机构核实付款',
      payment_deadline_passed: '支付时间已过',
      cancel_requested: '已取消', receipt_sent: '收据已发送',
    },
    reason: {
      card_declined: '您的银行卡被发卡行拒绝。',
      insufficient_funds: '卡内余额不足。',
      card_not_supported: '不支持此银行卡。',
      payment_declined: '支付被拒绝。',
      cancelled_by_customer: '您取消了支付。',
      cancelled_by_operator: '客服已取消本次充值。',
      payment_timeout: '未在规定时间内完成支付。',
      payment_failed: '支付未能完成。',
      order_cancelled: '充值在支付开始前已取消。',
      account_frozen: '您的账户已被冻结。',
      balance_cap_exceeded: '本次充值会使余额超过上限。',
      operator: '应客服团队的要求。',
    },
  },
};

let current = 'en';

/** The supported language a tag (navigator.language, a profile's) reads as. */
export function negotiate(tag) {
  return String(tag || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function setLanguage(language) {
  current = language in WORDS ? language : 'en';
  document.documentElement.lang = current;
  document.title = t('title');
}

export function language() {
  return current;
}

/** A word, with {name} filled in from `values`. */
export function t(key, values = {}) {
  const text = WORDS[current][key] ?? WORDS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));
}

/** The name of an API code of `kind` (method, status, heading, event, reason). */
export function named(kind, code) {
  const name = CODES[current][kind][code];
  if (name) return name;
  return kind === 'reason' ? t('reason_unknown', { code }) : code;
}

/** The words missing in some language (the tests ask: none). */
export function missingWords() {
  const missing = [];
  for (const [lang, words] of Object.entries(WORDS)) {
    for (const key of Object.keys(WORDS.en)) if (!(key in words)) missing.push(`${lang}:${key}`);
    for (const [kind, codes] of Object.entries(CODES.en)) {
      for (const code of Object.keys(codes)) if (!(code in CODES[lang][kind])) missing.push(`${lang}:${kind}.${code}`);
    }
  }
  return missing;
}

/** How many minor units make one major unit of the currency (ISO 4217, as CLDR knows it). */
export function exponent(currency) {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
}

/** An amount in minor units, written for the reader: money(9000, 'EUR') is "€90.00";
 * money(-500, 'EUR', { signDisplay: 'always' }) is "-€5.00". */
export function money(minor, currency, options = {}) {
  const format = new Intl.NumberFormat(current, { style: 'currency', currency, ...options });
  return format.format(minor / 10 ** exponent(currency));
}

/** An amount typed by the customer ("12.5", "12,50") in minor units, or null. */
export function parseAmount(text, currency) {
  const digits = exponent(currency);
  const match = String(text).trim().match(digits ? new RegExp(`^(\\d{1,9})(?:[.,](\\d{1,${digits}}))?$`) : /^(\d{1,12})$/);
  if (!match) return null;
  return Number(match[1]) * 10 ** digits + Number((match[2] || '').padEnd(digits, '0') || 0);
}

export function date(iso) {
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium' }).format(new Date(iso));
}

export function dateTime(iso, timeZone = undefined) {
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(new Date(iso));
}

export function time(iso) {
  return new Intl.DateTimeFormat(current, { timeStyle: 'short' }).format(new Date(iso));
}

/** A country's or region's name in the reader's language. */
export function region(code) {
  return new Intl.DisplayNames([current], { type: 'region' }).of(code) || code;
}
