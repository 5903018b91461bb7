// DOM and formatting helpers shared by every page of the console. Elements are built from
// data with createElement and textContent, never from HTML strings, so nothing the API says
// can become markup, and the content security policy (no inline script or style) holds.

export const SVG_NS = 'http://www.w3.org/2000/svg';

/** An HTML element with attributes (`on…` functions become listeners) and children. */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, the same way. */
export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A definition list from [term, description] pairs, skipping empty descriptions. */
export function facts(pairs) {
  const list = h('dl', { class: 'facts' });
  for (const [term, description] of pairs) {
    if (description === undefined || description === null || description === '') continue;
    list.append(h('dt', {}, term), h('dd', {}, description));
  }
  return list;
}

/** A table from column headings and rows of cells. */
export function table(caption, headings, rows, attrs = {}) {
  return h('table', attrs,
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, headings.map((heading) => h('th', { scope: 'col' }, heading)))),
    h('tbody', {}, rows));
}

/** A short text shown where a list would be, when it is empty. */
export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

/** A status word as a badge, coloured by its class. */
export function badge(text, kind = text) {
  return h('span', { class: `badge badge-${String(kind).replaceAll('_', '-')}` }, String(text).replaceAll('_', ' '));
}

/** Decimal digits of a currency's minor unit (USD 2, JPY 0), as Intl knows it. */
export function exponentOf(currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** Minor units of a currency as money, e.g. 40000 USD → "$400.00", 5000 JPY → "¥5,000". */
export function money(minorUnits, currency, exponent = exponentOf(currency)) {
  const negative = minorUnits < 0;
  const digits = String(Math.abs(Math.trunc(minorUnits))).padStart(exponent + 1, '0');
  const decimal = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  const signed = `${negative ? '-' : ''}${decimal}`;
  try {
    const format = new Intl.NumberFormat(undefined, {
      style: 'currency', currency, minimumFractionDigits: exponent, maximumFractionDigits: exponent,
    });
    // A decimal string keeps large amounts exact where Intl supports it.
    return format.format(signed);
  } catch {
    return `${signed} ${currency}`;
  }
}

/** An amount as the API sends it ({minor_units, currency}). */
export function amount(value) {
  return value ? money(value.minor_units, value.currency) : '';
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A `<time>` element for an RFC 3339 instant. */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const date = new Date(iso);
  return h('time', { datetime: iso, title: iso }, Number.isNaN(date.getTime()) ? iso : DATE_TIME.format(date));
}

/** "in 3 hours", "20 minutes ago". */
export function relative(iso, now = Date.now()) {
  const minutes = Math.round((new Date(iso).getTime() - now) / 60000);
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const size = Math.abs(minutes);
  if (size < 90) return format.format(minutes, 'minute');
  if (size < 48 * 60) return format.format(Math.round(minutes / 60), 'hour');
  return format.format(Math.round(minutes / 1440), 'day');
}

/** A span of minutes in words: "30 min", "4 h", "2 d". */
export function duration(minutes) {
  if (minutes % 1440 === 0) return `${minutes / 1440} d`;
  if (minutes % 60 === 0) return `${minutes / 60} h`;
  return `${minutes} min`;
}

/** A due time with how far off it is; overdue ones are marked. */
export function due(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'no SLA');
  const overdue = new Date(iso).getTime() < Date.now();
  return h('span', { class: overdue ? 'due overdue' : 'due' },
    time(iso), ' ', h('small', {}, overdue ? `overdue, ${relative(iso)}` : relative(iso)));
}

/** The first 12 characters of a hash, the whole one on hover. */
export function shortHash(hash) {
  return h('code', { class: 'hash', title: hash }, String(hash ?? '').slice(0, 12));
}

/** Words from a snake_case name: "pending_approval" → "pending approval". */
export function words(name) {
  return String(name ?? '').replaceAll('_', ' ');
}
