// Approval queue (#/queue, approvers): GET /v1/queue, most urgent SLA first. Each row says
// whether you can give the next approval and why not; approve and reject need a rationale
// (as case/approve.rs and case/reject.rs require), and whatever the API refuses is shown with
// its own message. After an action the row is refreshed from the queue.

import { describe, getJson, postJson, segment } from './api.js';
import { amount, badge, due, empty, h, table, words } from './dom.js';

const LEVELS = ['lead', 'manager', 'finance', 'director'];

export async function render(page, context) {
  page.append(h('h1', {}, 'Approval queue'));
  const entries = await getJson('/v1/queue');
  if (!entries.length) {
    page.append(empty('Nothing waits for your approval.'));
    return;
  }
  const rows = entries.map((entry) => row(entry, context));
  page.append(table(`${entries.length} pending, most urgent first`,
    ['Case', 'Amount', 'Code', 'Level', 'SLA due', 'Missing evidence', 'Can you approve?', 'Decision'],
    rows, { class: 'queue' }));
}

function row(entry, context) {
  const tr = h('tr', { 'data-case': entry.case_id });
  tr.append(
    h('td', {}, h('a', { href: `#/cases/${segment(entry.case_id)}`, 'data-open-case': entry.case_id }, entry.case_id),
      h('br'), h('small', {}, `${words(entry.kind)} by ${entry.requester} (${entry.team})`)),
    h('td', { class: 'amount' }, amount(entry.amount)),
    h('td', {}, entry.exception_code, entry.queue ? h('br') : null, entry.queue ? h('small', {}, entry.queue) : null),
    h('td', {}, level(entry)),
    h('td', {}, due(entry.sla_due_at)),
    h('td', {}, entry.missing_evidence.length
      ? entry.missing_evidence.map((kind) => badge(words(kind), 'missing'))
      : h('span', { class: 'muted' }, 'none')),
    h('td', {}, eligibility(entry)),
    h('td', { class: 'actions' }, actions(entry, tr, context)));
  return tr;
}

function level(entry) {
  const group = entry.approver_group;
  return [
    badge(entry.level, 'level'), h('br'),
    h('small', {}, `${entry.approved_by.length} of ${entry.approvals_needed} approvals`),
    group ? [h('br'), h('small', {}, `group ${group.name}: ${group.approvals} of ${group.members.length}`)] : null,
  ];
}

function eligibility(entry) {
  const acting = entry.on_behalf_of ? h('small', {}, ` on behalf of ${entry.on_behalf_of}`) : null;
  if (entry.can_approve) return [badge('yes', 'ok'), acting];
  return [badge('no', 'blocked'), ' ', h('small', {}, entry.blocked_because ?? '')];
}

/** Whether the signed-in approver could reject: their own level and limit cover the case, and
 * they did not request it (rejecting one's own case is cancelling it). */
function canReject(entry, me) {
  const authority = me.authority;
  if (!authority || entry.requester === me.actor) return false;
  const limit = authority.limits[entry.amount.currency];
  return LEVELS.indexOf(authority.level) >= LEVELS.indexOf(entry.level) && limit !== undefined
    && limit >= entry.amount.minor_units;
}

function actions(entry, tr, context) {
  const mayApprove = entry.can_approve;
  const mayReject = canReject(entry, context.me);
  if (!mayApprove && !mayReject) return h('span', { class: 'muted' }, 'nothing you can do here');
  const id = `rationale-${entry.case_id}`;
  const rationale = h('textarea', {
    id, name: 'rationale', rows: 2, required: true, placeholder: 'Why (required)', 'aria-label': `Rationale for ${entry.case_id}`,
  });
  const message = h('p', { class: 'row-message', 'aria-live': 'polite' });
  const act = (action) => () => decide(action, entry, tr, { rationale, message, context });
  const approveLabel = entry.on_behalf_of ? `Approve for ${entry.on_behalf_of}` : 'Approve';
  return [
    rationale,
    h('div', { class: 'buttons' },
      mayApprove ? h('button', { type: 'button', 'data-action': 'approve', class: 'primary', onclick: act('approve') }, approveLabel) : null,
      mayReject ? h('button', { type: 'button', 'data-action': 'reject', class: 'danger', onclick: act('reject') }, 'Reject') : null),
    message,
  ];
}

async function decide(action, entry, tr, { rationale, message, context }) {
  const text = rationale.value.trim();
  if (!text) {
    // The API refuses this too (rationale_required); say so before asking it.
    message.textContent = 'rationale must not be empty';
    context.showError(`A rationale is required to ${action} ${entry.case_id}: rationale must not be empty`);
    rationale.focus();
    return;
  }
  const body = { rationale: text, expected_version: entry.case_version };
  if (action === 'approve' && entry.on_behalf_of) body.on_behalf_of = entry.on_behalf_of;
  setBusy(tr, true);
  try {
    const view = await postJson(`/v1/cases/${segment(entry.case_id)}/${action}`, body);
    context.clearError();
    await refresh(tr, entry, view, context);
  } catch (error) {
    message.textContent = describe(error);
    context.showError(error);
    setBusy(tr, false);
  }
}

function setBusy(tr, busy) {
  for (const control of tr.querySelectorAll('button, textarea')) control.disabled = busy;
}

/** Shows what the action did: the final result, or the row as the queue now has it. */
async function refresh(tr, entry, view, context) {
  const result = view.status === 'pending_approval' ? 'approval_recorded' : view.status;
  const note = h('p', { 'data-result': result, class: `result result-${result.replaceAll('_', '-')}` },
    view.status === 'pending_approval'
      ? `Approval recorded: ${view.decision.approvals_received} of ${view.decision.approvals_needed}`
      : `Case ${words(view.status)}`);
  let fresh = null;
  if (view.status === 'pending_approval') {
    const entries = await getJson('/v1/queue').catch(() => []);
    fresh = entries.find((candidate) => candidate.case_id === entry.case_id) ?? null;
  }
  const next = fresh ? row(fresh, context) : tr;
  const cell = next.querySelector('td.actions');
  if (!fresh) cell.replaceChildren();
  cell.prepend(note);
  if (next !== tr) tr.replaceWith(next);
}
