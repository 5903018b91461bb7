// Case page (#/cases/LV-000001): the case (amount, code, status, the decision and its reasons,
// evidence, approvals with the authority each approver held, the customer message) from
// GET /v1/cases/{id}, and its ledger as a timeline with the check of the case's lineage from
// GET /v1/cases/{id}/timeline, shown first and plainly: intact or broken. Stored files can be
// downloaded (their SHA-256 checked in the browser against the ledger's) and, while the case is
// pending, uploaded (POST /v1/cases/{id}/attachments).

import { describe, getJson, request, segment } from './api.js';
import { amount, badge, empty, facts, h, money, shortHash, table, time, words } from './dom.js';

/** The media types levee stores (host/domain/src/evidence.rs). */
const STORED_TYPES = ['application/pdf', 'image/png', 'image/jpeg', 'image/gif', 'text/plain', 'text/csv', 'application/json', 'message/rfc822'];

export async function render(page, context) {
  const { param, showError } = context;
  const reload = async () => {
    page.replaceChildren();
    await render(page, context);
  };
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
      evidence(item, view.value.decision, reload),
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

function evidence(item, decided, reload) {
  const rows = item.evidence.map((piece) => {
    const provenance = piece.stored ? 'stored' : 'asserted';
    return h('tr', { 'data-provenance': provenance },
      h('td', {}, words(piece.kind)),
      h('td', {}, piece.stored ? `${piece.stored.file_name} (${piece.stored.media_type}, ${piece.stored.size_bytes} bytes)` : piece.reference,
        piece.description ? h('div', { class: 'muted' }, piece.description) : null),
      h('td', {}, badge(provenance)),
      h('td', {}, piece.sha256 ? shortHash(piece.sha256) : '—'),
      h('td', {}, piece.added_by), h('td', {}, time(piece.added_at)),
      h('td', {}, piece.stored ? download(item.id, piece) : null));
  });
  return h('section', { class: 'panel', 'aria-labelledby': 'case-evidence' },
    h('h2', { id: 'case-evidence' }, 'Evidence'),
    facts([
      ['Required', decided.required_evidence.map(words).join(', ') || 'nothing'],
      ['Missing', decided.missing_evidence.length ? decided.missing_evidence.map((kind) => badge(words(kind), 'missing')) : 'nothing'],
      ['Attachments must be stored', item.attachments_must_be_stored ? 'yes: a reference alone does not count' : null],
    ]),
    rows.length
      ? table(null, ['Kind', 'What', 'Provenance', 'SHA-256', 'Added by', 'At', ''], rows, { id: 'evidence' })
      : empty('No evidence attached.'),
    item.status === 'pending_approval' ? uploadForm(item.id, reload) : null);
}

/** Downloads a stored file after checking its SHA-256 against the one the ledger records. */
function download(caseId, piece) {
  const result = h('span', { class: 'muted', 'data-download-result': '', role: 'status' });
  const button = h('button', { type: 'button', 'data-action': 'download' }, 'Download');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const path = `/v1/cases/${segment(caseId)}/attachments?sha256=${segment(piece.sha256)}`;
      const blob = await (await request(path, { accept: piece.stored.media_type })).blob();
      const digest = await sha256Hex(blob);
      if (digest !== null && digest !== piece.sha256) {
        settle(result, 'mismatch', `Not saved: its SHA-256 is ${shortHash(digest)}, not the ledger's`);
        return;
      }
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: piece.stored.file_name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      settle(result, digest === null ? 'unchecked' : 'verified', digest === null
        ? 'Saved (this browser cannot compute SHA-256 here: check it yourself)'
        : 'Saved; its SHA-256 matches the ledger');
    } catch (error) {
      settle(result, 'failed', describe(error));
    } finally {
      button.disabled = false;
    }
  });
  return [button, ' ', result];
}

function settle(result, state, text) {
  result.dataset.downloadResult = state;
  result.textContent = text;
}

/** The SHA-256 of a blob in lowercase hex; null where the browser has no Web Crypto (plain HTTP). */
async function sha256Hex(blob) {
  if (!globalThis.crypto?.subtle) return null;
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Uploads a file as stored evidence; the page is drawn again with it. */
function uploadForm(caseId, reload) {
  const file = h('input', { type: 'file', id: 'evidence-file', accept: STORED_TYPES.join(',') });
  const description = h('input', { type: 'text', id: 'evidence-description', maxlength: '1000', placeholder: 'What it shows (optional)' });
  const result = h('p', { id: 'evidence-upload-result', role: 'status' });
  const button = h('button', { type: 'button', id: 'evidence-upload', class: 'primary' }, 'Upload');
  button.addEventListener('click', async () => {
    const chosen = file.files[0];
    if (!chosen) {
      result.textContent = 'Choose a file first.';
      return;
    }
    button.disabled = true;
    try {
      const query = new URLSearchParams({ name: chosen.name });
      if (description.value.trim()) query.set('description', description.value.trim());
      await request(`/v1/cases/${segment(caseId)}/attachments?${query}`, { method: 'POST', file: chosen });
      await reload();
    } catch (error) {
      result.textContent = describe(error);
      button.disabled = false;
    }
  });
  return h('div', { class: 'upload' },
    h('h3', {}, 'Add a file'),
    h('p', { class: 'muted' }, 'levee keeps the file, computes its SHA-256 and records it as stored evidence: PDF, PNG, JPEG, GIF, text, CSV, JSON or e-mail, up to 4 MiB.'),
    h('label', { for: 'evidence-file' }, 'File '), file, ' ',
    h('label', { for: 'evidence-description' }, 'Description '), description, ' ', button, result);
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
