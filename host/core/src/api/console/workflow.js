// Workflow (#/workflow): GET /v1/workflow drawn as a diagram (diagram.js) for one ladder at a
// time, with the same facts as tables beside it, so that they can be read by a screen reader
// and printed: the policy chain, every ladder, each level's SLA, group and escalation.

import { getJson } from './api.js';
import { drawWorkflow } from './diagram.js';
import { duration, empty, facts, h, money, shortHash, table, words } from './dom.js';

export async function render(page, { query }) {
  page.append(h('h1', {}, 'Workflow'));
  const workflow = await getJson('/v1/workflow');
  const chosen = ladderFor(workflow.ladders, query.get('ladder'));
  page.append(
    facts([
      ['Approval matrix', workflow.matrix_version],
      ['Policy chain', workflow.chain.number === 0 ? 'the chain from the configuration (#0)' : `#${workflow.chain.number}`],
      ['Never auto-approved', workflow.never_auto_approve.map(words).join(', ') || 'none'],
      ['Customer message required for', workflow.customer_comms_for.map(words).join(', ') || 'none'],
      ['Repeat refunds', `${workflow.repeat_refunds_90d} in 90 days send a refund one level up`],
    ]),
    ...(chosen ? [ladderPicker(workflow.ladders, chosen), h('figure', { class: 'diagram-figure' }, drawWorkflow(workflow, chosen))]
      : [empty('The approval matrix has no ladders.')]),
    chainTable(workflow.chain),
    ladderTable(workflow.ladders),
    levelTable(workflow));
}

function ladderKey(ladder) {
  return ladder.kind ? `${ladder.currency}:${ladder.kind}` : ladder.currency;
}

function ladderFor(ladders, key) {
  return ladders.find((ladder) => ladderKey(ladder) === key)
    ?? ladders.find((ladder) => ladder.currency === 'USD' && !ladder.kind)
    ?? ladders[0];
}

function ladderPicker(ladders, chosen) {
  const select = h('select', { id: 'ladder', name: 'ladder' }, ladders.map((ladder) => h('option', {
    value: ladderKey(ladder), selected: ladder === chosen,
  }, ladder.kind ? `${ladder.currency}, ${words(ladder.kind)} only` : ladder.currency)));
  select.addEventListener('change', () => {
    location.hash = `#/workflow?ladder=${encodeURIComponent(select.value)}`;
  });
  return h('p', { class: 'picker' }, h('label', { for: 'ladder' }, 'Ladder drawn '), select);
}

function chainTable(chain) {
  const rows = chain.policies.map((policy) => h('tr', {},
    h('td', {}, String(policy.position)), h('td', {}, policy.name), h('td', {}, policy.version),
    h('td', {}, shortHash(policy.digest)), h('td', {}, words(policy.parameters))));
  return h('section', { class: 'panel', 'aria-labelledby': 'workflow-chain' },
    h('h2', { id: 'workflow-chain' }, 'Decision points'),
    table('Evaluated in order on every new case; the most restrictive outcome wins, evidence asked is the union',
      ['#', 'Policy', 'Version', 'Digest', 'Parameters'], rows),
    chain.shadow ? h('p', {}, `Shadow chain #${chain.shadow.number} runs beside it: ${chain.shadow.policies.join(' → ')}`) : null);
}

function ladderTable(ladders) {
  const rows = ladders.map((ladder) => {
    const show = (value) => money(value, ladder.currency, ladder.exponent);
    const bands = ladder.bands.map((band) => `${band.level} ≤ ${show(band.up_to)}`).join('; ');
    return h('tr', {},
      h('th', { scope: 'row' }, ladder.kind ? `${ladder.currency} (${words(ladder.kind)})` : ladder.currency),
      h('td', {}, `≤ ${show(ladder.auto_approve_up_to)}`), h('td', {}, bands),
      h('td', {}, `> ${show(ladder.top_band.above)}: ${ladder.top_band.approvals} × ${ladder.top_band.level}`),
      h('td', {}, `rationale > ${show(ladder.rationale_above)}; attachment > ${show(ladder.attachment_above)}`));
  });
  return h('section', { class: 'panel', 'aria-labelledby': 'workflow-ladders' },
    h('h2', { id: 'workflow-ladders' }, 'Approval matrix'),
    table(null, ['Ladder', 'Auto-approve', 'Bands (one approval)', 'Top band', 'Evidence gates'], rows));
}

function levelTable(workflow) {
  const rows = workflow.levels.map((step) => {
    const escalation = workflow.escalation.find((candidate) => candidate.from === step.level);
    const group = step.approval_group;
    return h('tr', {},
      h('th', { scope: 'row' }, step.level), h('td', {}, duration(step.sla_minutes)),
      h('td', {}, group ? `${group.name}: ${group.approvals} of ${group.members.join(', ')}` : 'any approver at this level'),
      h('td', {}, !escalation ? '' : escalation.reminder
        ? `reminder every ${duration(escalation.after_minutes)} (top level)`
        : `to ${escalation.to} after ${duration(escalation.after_minutes)}`));
  });
  return h('section', { class: 'panel', 'aria-labelledby': 'workflow-levels' },
    h('h2', { id: 'workflow-levels' }, 'Levels, SLAs and escalation'),
    table('A case past its SLA moves one level up, as levee itself; approvals given still count',
      ['Level', 'SLA', 'Approval group', 'When the SLA runs out'], rows));
}
