// Case page (#/cases/LV-000001): the case (amount, code, status, the decision and its reasons,
// evidence, approvals with the authority each approver held, the customer message) from
// GET /v1/cases/{id}, and its ledger as a timeline with the check of the case's lineage from
// GET /v1/cases/{id}/timeline, shown first and plainly: intact or broken.

import { getJson, segment } from './api.js';
import { amount, badge, empty, facts, h, money, shortHash, table, time, words } from './dom.js';

export async function render(page, { param, showError }) {
  const id = param ?? '';
  page.append(h('h1', {}, `Case ${id}`));
  // Read apart: a case record that its ledger does not vouch for is refused (500), and then
  // the timeline is what shows why.
  const [view, timeline] = await Promise.allSettled([
    getJson(`/v1/cases/${segment(id)}`),
    getJson(`/v1/cases/${segment(id)}/timeline`),
  ]);
  if (timeline.status === 'rejected') throw timeline.reason;
  page.append(verification(timeline.value.verify));
  if (view.status === 'fulfilled') {
    const item = view.value.case;
    page.append(
      summary(view.value, item),
      decision(view.value.decision),
      evidence(item, view.value.decision),
      approvals(item),
      escalations(item),
      comms(item));
  } else {
    showError(view.reason);
  }
  page.append(ledger(timeline.value.entries));
}

function verification(report) {
  const text = report.ok
    ? `Ledger intact: ${report.entries_checked} entries of this case check out (last entry ${report.last_seq}).`
    : `Ledger BROKEN at entry ${report.first_mismatch?.seq}: ${report.first_mismatch?.problem}`;
  return h('p', { id: 'verify', 'data-ok': String(report.ok), class: report.ok ? 'verify verify-ok' : 'verify verify-broken', role: 'status' },
    h('strong', {}, report.ok ? 'Verified. ' : 'Broken. '), text,
    report.ok ? h('span', { class: 'muted' }, ' Last hash ', shortHash(report.last_hash)) : null);
}

function summary(view, item) {
  return h('section', { class: 'panel', 'aria-labelledby': 'case-summary' },
    h('h2', { id: 'case-summary' }, 'The case'),
    h('p', { class: 'status-line' }, 'Status: ', h('span', { id: 'case-status', class: `badge badge-${item.status.replaceAll('_', '-')}` }, item.status)),
    facts([
      ['Amount', h('span', { class: 'amount' }, amount(item.amount))],
      ['Kind', words(item.kind)],
      ['Exception code', `${item.exception_code} (${item.code_category})`],
      ['Requester', `${item.requester} (${words(item.requester_role)}), team ${item.team}, via ${item.channel}`],
      ['Customer', item.customer_ref],
      ['Order', item.order_ref],
      ['Rationale', item.rationale],
      ['Submitted', time(item.submitted_at)],
      ['Decided', item.decided_at ? time(item.decided_at) : null],
      ['Version', String(view.version)],
      ['Closed by', item.closure ? `${item.closure.by}: ${item.closure.rationale}` : null],
    ]));
}

function decision(decided) {
  const runs = decided.policies.map((run) => h('tr', {},
    h('td', {}, run.name), h('td', {}, run.version), h('td', {}, shortHash(run.digest)),
    h('td', {}, words(run.verdict)), h('td', {}, run.rule_id ?? run.failure ?? '')));
  return h('section', { class: 'panel', 'aria-labelledby': 'case-decision' },
    h('h2', { id: 'case-decision' }, 'Decision'),
    facts([
      ['Outcome', badge(decided.outcome)],
      ['Level', decided.level ? `${decided.level}, ${decided.approvals_received} of ${decided.approvals_needed} approvals` : null],
      ['SLA due', decided.sla_due_at ? time(decided.sla_due_at) : null],
      ['Queue', decided.queue],
      ['Signals', decided.signals.length ? decided.signals.join(', ') : null],
      ['Failed closed', decided.failed_closed ? 'yes: a policy failed, so the case waits for the top level' : null],
    ]),
    h('h3', {}, 'Why'),
    decided.reasons.length ? h('ul', {}, decided.reasons.map((reason) => h('li', {}, reason))) : empty('No reasons given.'),
    table('Policies that decided', ['Policy', 'Version', 'Digest', 'Verdict', 'Rule'], runs));
}

function evidence(item, decided) {
  const rows = item.evidence.map((piece) => h('tr', {},
    h('td', {}, words(piece.kind)), h('td', {}, piece.reference), h('td', {}, piece.sha256 ? shortHash(piece.sha256) : '—'),
    h('td', {}, piece.added_by), h('td', {}, time(piece.added_at))));
  return h('section', { class: 'panel', 'aria-labelledby': 'case-evidence' },
    h('h2', { id: 'case-evidence' }, 'Evidence'),
    facts([
      ['Required', decided.required_evidence.map(words).join(', ') || 'nothing'],
      ['Missing', decided.missing_evidence.length ? decided.missing_evidence.map((kind) => badge(words(kind), 'missing')) : 'nothing'],
    ]),
    rows.length ? table(null, ['Kind', 'Reference', 'SHA-256', 'Added by', 'At'], rows) : empty('No evidence attached.'));
}

function approvals(item) {
  const list = item.approvals.map((approval) => h('li', { class: 'approval' },
    h('p', {}, h('strong', {}, approval.approver),
      approval.on_behalf_of ? ` on behalf of ${approval.on_behalf_of}` : '', ' at ', time(approval.at)),
    h('p', {}, `Authority: ${approval.authority.level} level, limit `,
      approval.authority.limit_minor_units === null ? 'none'
        : money(approval.authority.limit_minor_units, approval.authority.currency),
      ` (from ${approval.authority.source})`),
    h('p', {}, `Rationale: ${approval.rationale}`),
    h('details', {}, h('summary', {}, 'Checks passed'), h('ul', {}, approval.checks.map((check) => h('li', {}, check))))));
  return h('section', { class: 'panel', 'aria-labelledby': 'case-approvals' },
    h('h2', { id: 'case-approvals' }, 'Approvals'),
    list.length ? h('ol', { class: 'approvals' }, list) : empty('No approvals yet.'));
}

function escalations(item) {
  if (!item.escalations.length) return null;
  return h('section', { class: 'panel', 'aria-labelledby': 'case-escalations' },
    h('h2', { id: 'case-escalations' }, 'Escalations'),
    h('ol', {}, item.escalations.map((step) => h('li', {},
      time(step.at), ` ${step.from} → ${step.to} (missed `, time(step.missed_due_at), '; next due ', time(step.next_due_at), ')'))));
}

function comms(item) {
  const message = item.comms;
  if (!message) return null;
  const review = message.review;
  return h('section', { class: 'panel', 'aria-labelledby': 'case-comms' },
    h('h2', { id: 'case-comms' }, 'Customer message'),
    facts([
      ['Draft', `${message.draft} by ${message.drafted_by}${message.from_template ? ' (from the code\'s template)' : ''}`],
      ['Review', review ? `${review.approved ? 'approved' : 'sent back'} by ${review.by}: ${review.note}` : 'not reviewed yet'],
      ['SHA-256', shortHash(message.sha256)],
    ]),
    h('blockquote', { class: 'message' }, message.text));
}

function ledger(entries) {
  return h('section', { class: 'panel', 'aria-labelledby': 'case-ledger' },
    h('h2', { id: 'case-ledger' }, 'Ledger'),
    h('ol', { id: 'timeline', class: 'timeline' }, entries.map((entry) => h('li', { 'data-seq': entry.seq },
      h('p', { class: 'timeline-head' },
        h('span', { class: 'seq' }, `#${entry.seq}`), ' ', h('strong', { class: 'event' }, entry.event), ' ',
        time(entry.at), ' by ', h('span', { class: 'actor' }, entry.actor), ` (${words(entry.role)})`),
      entry.summary ? h('p', { class: 'timeline-summary' }, entry.summary) : null,
      entry.authority ? h('p', { class: 'muted' }, `authority: ${entry.authority.level}, from ${entry.authority.source}`) : null,
      h('p', { class: 'hashes' }, 'hash ', shortHash(entry.hash), ' ← prev ', shortHash(entry.prev_hash),
        ' · state ', shortHash(entry.state_hash), ` · version ${entry.subject_version}`)))));
}
