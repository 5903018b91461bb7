// Remediation board (#/remediation): GET /v1/remediation in columns by status, each item with
// its colour, SLA due time and owner team. The owner team (or an admin) may start an open item
// and submit the fix with its closure evidence; levee verifies or reopens it on its own.

import { describe, getJson, postJson, segment } from './api.js';
import { badge, due, empty, facts, h, time, words } from './dom.js';

const COLUMNS = [
  { status: 'open', title: 'Open' },
  { status: 'in_progress', title: 'In progress' },
  { status: 'fix_submitted', title: 'Fix submitted' },
  { status: 'verified', title: 'Verified' },
];

export async function render(page, context) {
  page.append(h('h1', {}, 'Remediation'));
  let shown = board(await getJson('/v1/remediation'), context);
  page.append(shown);
  // After an owner's step the board is read again, so the item moves to its new column.
  context.reload = async () => {
    const next = board(await getJson('/v1/remediation'), context);
    shown.replaceWith(next);
    shown = next;
  };
}

function board(items, context) {
  if (!items.length) return empty('No remediation items: no exception code has crossed its trigger.');
  return h('div', { class: 'board' }, COLUMNS.map((column) => {
    const cards = items.filter((item) => item.status === column.status).map((item) => itemCard(item, context));
    return h('section', { class: 'column', 'data-status': column.status, 'aria-label': column.title },
      h('h2', {}, `${column.title} (${cards.length})`), cards.length ? cards : empty('None.'));
  }));
}

/** Whether the signed-in principal may take the owner's steps on an item. */
function mayAct(item, me) {
  const roles = me.roles;
  const acting = roles.includes('agent') || roles.includes('approver') || roles.includes('admin');
  return acting && (me.team === item.owner || roles.includes('admin'));
}

function itemCard(item, context) {
  const card = h('article', { class: `item rag-${item.rag}`, 'data-item': item.id });
  card.append(
    h('h3', {}, item.id, ' ', badge(item.rag), item.overdue ? badge('overdue') : null),
    facts([
      ['Code', item.code],
      ['Owner team', item.owner],
      ['SLA due', item.status === 'verified' ? null : due(item.due_at)],
      ['Opened', time(item.opened_at)],
      ['Baseline', `${item.baseline.cases} cases in ${item.trigger.window_days} days`],
      ['Reopened', item.reopened ? `${item.reopened} times` : null],
      ['Playbook', item.playbook],
      ['Fix', item.fix ? `${item.fix.link}: ${item.fix.note} (${item.fix.by})` : null],
      ['Verification', item.verification
        ? `${item.verification.verified ? 'verified' : 'not verified'}: ${item.verification.after_fix.cases} cases after the fix, at most ${item.verification.allowed_cases} allowed`
        : null],
      ['Escalated', item.escalation ? `to ${item.escalation.to ?? 'the owner team\'s manager'}` : null],
    ]),
    history(item));
  if (mayAct(item, context.me)) card.append(...ownerActions(item, context));
  return card;
}

function history(item) {
  return h('details', {}, h('summary', {}, `History (${item.history.length})`),
    h('ol', {}, item.history.map((step) => h('li', {}, time(step.at), ` ${words(step.status)} by ${step.by}: ${step.note}`))));
}

function ownerActions(item, context) {
  if (item.status === 'open') {
    const note = field(item, 'note', 'What you will do');
    return [form(item, context, 'start', 'Start work', [note], () => ({ note: note.control.value.trim() }))];
  }
  if (item.status === 'in_progress') {
    const link = field(item, 'link', 'Playbook or SOP link');
    const note = field(item, 'note', 'What changed');
    return [form(item, context, 'fix', 'Submit fix', [link, note],
      () => ({ link: link.control.value.trim(), note: note.control.value.trim() }))];
  }
  return [];
}

function field(item, name, label) {
  const id = `${item.id}-${name}`;
  const control = name === 'link' ? h('input', { id, name, required: true }) : h('textarea', { id, name, rows: 2, required: true });
  return { control, element: h('p', {}, h('label', { for: id }, label), control) };
}

function form(item, context, action, label, fields, body) {
  const message = h('p', { class: 'row-message', 'aria-live': 'polite' });
  const element = h('form', { class: 'owner-action', 'data-action': action },
    fields.map((entry) => entry.element), h('button', { type: 'submit', 'data-action': action }, label), message);
  element.addEventListener('submit', async (event) => {
    event.preventDefault();
    element.querySelector('button').disabled = true;
    try {
      await postJson(`/v1/remediation/${segment(item.id)}/${action}`, body());
      context.clearError();
      await context.reload();
    } catch (error) {
      message.textContent = describe(error);
      context.showError(error);
      element.querySelector('button').disabled = false;
    }
  });
  return element;
}
