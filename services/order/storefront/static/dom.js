// A few lines instead of a framework: build elements, and show an error where it happened.

/**
 * h('button', {class: 'primary', onclick: pay}, 'Pay') builds an element. Attributes that
 * start with "on" become listeners; children may be strings, elements, arrays, or null.
 * Text is always set as text, never parsed as HTML.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name in element && typeof value !== 'string') element[name] = value;
    else element.setAttribute(name, value === true ? '' : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/** Replace what `element` holds. */
export function show(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A place for a problem's words, announced to screen readers when filled. */
export function alertBox() {
  return h('p', { class: 'alert', role: 'alert', hidden: true });
}

export function say(box, text) {
  box.textContent = text || '';
  box.hidden = !text;
}

/** Rows of a definition list: [[term, value], ...], leaving out empty values. */
export function facts(rows) {
  return h('dl', { class: 'facts' }, rows.filter(([, value]) => value !== null && value !== undefined && value !== '')
    .map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));
}
