// Policies (#/policies, admins and auditors): GET /v1/policies. The chain this host runs now,
// the chains proposed and waiting for a second admin (each with its backtest), rollbacks
// waiting for a second admin's confirmation, the active chain and the shadow chain as the
// registry records them, every chain activated (rollbacks name the chain they restore, approved
// chains who proposed and who approved them), and every plugin uploaded, by digest. Then the
// other controls under four eyes (GET /v1/controls): changes of approval groups, floors and a
// code's routing waiting for a second admin, with what each alters and its backtest, and the
// groups and floors in force. An admin approves or rejects a proposal and confirms a rollback
// here, with a rationale; the API refuses the admin who made the first step, and its message
// is shown.

import { describe, getJson, postJson } from './api.js';
import { empty, facts, h, money, shortHash, table, time } from './dom.js';

export async function render(page, context) {
  const reload = async () => {
    page.replaceChildren();
    await render(page, context);
  };
  page.append(h('h1', {}, 'Policies'));
  const [{ registry, loaded, rollbacks_awaiting_confirmation: unconfirmed }, controls] =
    await Promise.all([getJson('/v1/policies'), getJson('/v1/controls')]);
  const uploads = registry.uploads ?? {};
  const active = registry.chains.at(-1);
  const canReview = context.me.roles.includes('admin');
  page.append(
    proposals(registry.proposals ?? [], uploads, canReview, reload),
    rollbacks(registry.chains.filter((chain) => unconfirmed.includes(chain.number)), canReview, reload),
    controlProposals(controls.proposals, canReview, reload),
    loadedChain(loaded),
    activeChain(active, uploads),
    shadowChain(registry.shadow, uploads),
    history(registry.chains),
    uploadList(Object.values(uploads)),
    controlsInForce(controls));
}

/** Chains one admin proposed, waiting for a second admin: what changes and the backtest. */
function proposals(waiting, uploads, canReview, reload) {
  return h('section', { class: 'panel', 'aria-labelledby': 'policies-proposals' },
    h('h2', { id: 'policies-proposals' }, 'Proposed chains waiting for a second admin'),
    waiting.length
      ? waiting.map((proposal) => h('article', { class: 'proposal', 'data-proposal': String(proposal.number) },
        h('h3', {}, `Proposal ${proposal.number}`),
        facts([
          ['Proposed', [time(proposal.proposed.at), ` by ${proposal.proposed.by}`]],
          ['Rationale', proposal.proposed.rationale],
          ['Compared with', proposal.active_chain ? `chain #${proposal.active_chain}` : 'the configured chain'],
        ]),
        links(proposal.links, uploads),
        backtest(proposal.backtest),
        canReview ? review(`/v1/policies/proposals/${proposal.number}`, ['approve', 'reject'], reload) : null))
      : empty('No chain waits for approval.'));
}

/** Changes of approval groups, floors or a code's routing, waiting for a second admin. */
function controlProposals(waiting, canReview, reload) {
  return h('section', { class: 'panel', 'aria-labelledby': 'controls-proposals' },
    h('h2', { id: 'controls-proposals' }, 'Control changes waiting for a second admin'),
    waiting.length
      ? waiting.map((proposal) => h('article', { class: 'proposal', 'data-control-proposal': String(proposal.number) },
        h('h3', {}, `Control proposal ${proposal.number}: ${proposal.change.control.replaceAll('_', ' ')}`),
        facts([
          ['Proposed', [time(proposal.proposed.at), ` by ${proposal.proposed.by}`]],
          ['Rationale', proposal.proposed.rationale],
        ]),
        h('ul', { class: 'alters' }, proposal.alters.map((line) => h('li', {}, line))),
        proposal.backtest ? backtest(proposal.backtest) : h('p', { class: 'muted' }, 'No backtest: approval groups change who approves, not what is decided.'),
        canReview ? review(`/v1/controls/proposals/${proposal.number}`, ['approve', 'reject'], reload) : null))
      : empty('No control change waits for approval.'));
}

/** The approval groups and floors in force, and whether the configuration or the ledger set them. */
function controlsInForce(controls) {
  const groups = controls.approval_groups.map((group) =>
    `${group.name} at ${group.level}: ${group.approvals} of ${group.members.join(', ')}`);
  const floors = controls.floors;
  return h('section', { class: 'panel', 'aria-labelledby': 'controls-in-force' },
    h('h2', { id: 'controls-in-force' }, 'Approval groups and floors in force'),
    facts([
      [`Approval groups (from the ${controls.approval_groups_from})`, groups.length ? groups.join('; ') : 'none'],
      [`Floors (from the ${controls.floors_from})`, [
        `never auto-approve: ${floors.never_auto_approve.join(', ') || 'none'}; `,
        `auto-approve at most: ${Object.entries(floors.auto_approve_max).map(([currency, max]) => money(max, currency)).join(', ') || 'nothing'}`]],
    ]));
}

/** A proposal's backtest: cases replayed, outcomes that change, amounts auto-approved. */
function backtest(report) {
  const changes = Object.entries(report.changes ?? {}).map(([change, count]) => `${change}: ${count}`);
  const amounts = Object.entries(report.amounts ?? {}).map(([currency, figures]) =>
    `${currency} auto-approved ${money(figures.auto_approved.actual, currency)} → ${money(figures.auto_approved.candidate, currency)}`);
  return facts([
    ['Backtest', [`${report.cases} cases since `, time(report.from), ` replayed; ${report.changed} would change`]],
    ['Changes', changes.length ? changes.join(', ') : 'none'],
    ['Amounts', amounts.length ? amounts.join('; ') : 'none'],
    ['Failed closed', String(report.failed_closed)],
  ]);
}

/** Rollbacks one admin made alone, flagged until a second admin confirms them. */
function rollbacks(unconfirmed, canReview, reload) {
  if (!unconfirmed.length) return null;
  return h('section', { class: 'panel flagged', 'aria-labelledby': 'policies-rollbacks' },
    h('h2', { id: 'policies-rollbacks' }, 'Rollbacks awaiting a second admin'),
    unconfirmed.map((chain) => h('article', { 'data-rollback': String(chain.number) },
      h('p', {}, `Chain #${chain.number} restored #${chain.restores} — by ${chain.activated_by}: ${chain.rationale}`),
      canReview ? review(`/v1/policies/chains/${chain.number}`, ['confirm'], reload) : null)));
}

/** A rationale and one button per action (`<base>/<action>`); the API's refusal is shown. */
function review(base, actions, reload) {
  const rationale = h('textarea', { name: 'rationale', rows: '2', 'aria-label': 'Rationale', required: true });
  const message = h('p', { class: 'message', role: 'status' });
  const buttons = actions.map((action) => {
    const button = h('button', { type: 'button', 'data-action': action }, action[0].toUpperCase() + action.slice(1));
    button.addEventListener('click', async () => {
      if (!rationale.value.trim()) {
        message.textContent = 'Give a rationale first.';
        return;
      }
      for (const control of [rationale, ...buttons]) control.disabled = true;
      try {
        await postJson(`${base}/${action}`, { rationale: rationale.value });
        await reload();
      } catch (error) {
        message.textContent = describe(error);
        for (const control of [rationale, ...buttons]) control.disabled = false;
      }
    });
    return button;
  });
  return h('div', { class: 'review' }, rationale, h('div', { class: 'actions' }, buttons), message);
}

function loadedChain(loaded) {
  const rows = loaded.map((policy, index) => h('tr', {},
    h('td', {}, String(index + 1)), h('td', {}, policy.name), h('td', {}, policy.version), h('td', {}, shortHash(policy.digest))));
  return h('section', { class: 'panel', 'aria-labelledby': 'policies-loaded' },
    h('h2', { id: 'policies-loaded' }, 'Deciding cases on this host now'),
    table('Evaluated in this order; the most restrictive outcome wins', ['#', 'Policy', 'Version', 'Digest'], rows));
}

/** A chain's links: built-ins by name, uploads by name, version and digest. */
function links(chainLinks, uploads) {
  if (!chainLinks.length) return empty('The chain from the configuration (levee.toml).');
  return h('ol', { class: 'chain' }, chainLinks.map((link) => {
    const upload = link.digest ? uploads[link.digest] : null;
    return h('li', {}, h('strong', {}, link.name),
      link.digest ? [' ', upload ? `version ${upload.version} ` : '', shortHash(link.digest)] : ' (built in)',
      link.params ? h('small', {}, ' with its own parameters') : null);
  }));
}

function activeChain(active, uploads) {
  return h('section', { class: 'panel', 'aria-labelledby': 'policies-active' },
    h('h2', { id: 'policies-active' }, 'Active chain'),
    active
      ? [facts([
        ['Chain', `#${active.number}${active.restores !== null && active.restores !== undefined ? `, restoring #${active.restores}` : ''}`],
        ['Activated', [time(active.activated_at), ` by ${active.activated_by}`]],
        ['Rationale', active.rationale],
      ]), links(active.links, uploads)]
      : empty('No chain has been activated: the chain from the configuration (levee.toml) decides.'));
}

function shadowChain(shadow, uploads) {
  return h('section', { class: 'panel', 'aria-labelledby': 'policies-shadow' },
    h('h2', { id: 'policies-shadow' }, 'Shadow chain'),
    shadow
      ? [facts([
        ['Shadow', `#${shadow.number}`],
        ['Started', [time(shadow.started_at), ` by ${shadow.started_by}`]],
        ['Rationale', shadow.rationale],
      ]), links(shadow.links, uploads)]
      : empty('No shadow chain runs.'));
}

function history(chains) {
  const rows = [...chains].reverse().map((chain) => h('tr', {},
    h('td', {}, `#${chain.number}`),
    h('td', {}, chain.links.length ? chain.links.map((link) => link.name).join(' → ') : 'the configured chain'),
    h('td', {}, chain.restores !== null && chain.restores !== undefined ? `#${chain.restores}` : ''),
    h('td', {}, signoffs(chain)), h('td', {}, time(chain.activated_at)), h('td', {}, chain.rationale)));
  return h('section', { class: 'panel', 'aria-labelledby': 'policies-history' },
    h('h2', { id: 'policies-history' }, 'Chains activated'),
    rows.length ? table(null, ['Chain', 'Policies', 'Restores', 'By', 'At', 'Rationale'], rows) : empty('None yet.'));
}

/** Who put a chain in force: proposer and approver, or a rollback and its confirmation. */
function signoffs(chain) {
  if (chain.approval) return `proposed by ${chain.approval.proposed.by}, approved by ${chain.approval.approved.by}`;
  if (chain.restores === null || chain.restores === undefined) return chain.activated_by;
  return chain.confirmed
    ? `${chain.activated_by}, confirmed by ${chain.confirmed.by}`
    : `${chain.activated_by} (not yet confirmed by a second admin)`;
}

function uploadList(uploads) {
  const rows = uploads
    .sort((a, b) => b.uploaded_at.localeCompare(a.uploaded_at))
    .map((upload) => h('tr', {},
      h('td', {}, upload.name), h('td', {}, upload.version), h('td', {}, shortHash(upload.digest)),
      h('td', {}, `${Math.ceil(upload.size_bytes / 1024)} KiB`), h('td', {}, upload.description),
      h('td', {}, upload.uploaded_by), h('td', {}, time(upload.uploaded_at))));
  return h('section', { class: 'panel', 'aria-labelledby': 'policies-uploads' },
    h('h2', { id: 'policies-uploads' }, 'Uploaded plugins'),
    rows.length ? table(null, ['Name', 'Version', 'Digest', 'Size', 'Description', 'By', 'At'], rows) : empty('None yet.'));
}
