// The workflow diagram, drawn with SVG DOM elements from GET /v1/workflow: the decision points
// (the policy chain, in order), one currency's ladder of bands with its evidence gates, and the
// approver levels with their SLAs, approval groups and escalation arrows. Colours come from
// console.css classes, so nothing is styled inline.

import { duration, money, svg } from './dom.js';

const WIDTH = 960;
const MARGIN = 20;
const LEVEL_BOX = { width: 150, height: 70, gap: 80, top: 320 };

/** The whole diagram for one ladder of the workflow. */
export function drawWorkflow(workflow, ladder) {
  const height = 470;
  const title = `Workflow: policy chain, ${ladder.currency} ladder, levels and escalation`;
  const root = svg('svg', {
    viewBox: `0 0 ${WIDTH} ${height}`, class: 'diagram', role: 'img', 'aria-labelledby': 'diagram-title',
    preserveAspectRatio: 'xMidYMin meet',
  }, svg('title', { id: 'diagram-title' }, title), defs());
  const levels = levelPositions(workflow.levels);
  root.append(
    chainRow(workflow.chain),
    ladderRow(workflow, ladder, levels),
    levelRow(workflow, levels),
    notes(workflow, height));
  return root;
}

function defs() {
  return svg('defs', {}, svg('marker', {
    id: 'dg-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse',
  }, svg('path', { d: 'M0 0 L10 5 L0 10 z', class: 'dg-arrowhead' })));
}

function text(x, y, content, attrs = {}) {
  return svg('text', { x, y, ...attrs }, content);
}

function arrow(x1, y1, x2, y2, extra = {}) {
  return svg('line', { x1, y1, x2, y2, class: 'dg-line', 'marker-end': 'url(#dg-arrow)', ...extra });
}

function box(x, y, width, height, kind, lines) {
  const group = svg('g', { class: `dg-node dg-${kind}` },
    svg('rect', { x, y, width, height, rx: 6, ry: 6 }));
  const first = y + height / 2 - ((lines.length - 1) * 15) / 2 + 4;
  lines.forEach((line, index) => {
    // The first line names the box; a third line is a note, set smaller.
    const style = ['dg-label dg-strong', 'dg-label', 'dg-label dg-small'][Math.min(index, 2)];
    group.append(text(x + width / 2, first + index * 15, fit(line, width, index >= 2 ? 5.5 : 7), {
      'text-anchor': 'middle', class: style,
    }));
  });
  return group;
}

/** Cuts a label to what fits in `width` pixels at about `perCharacter` pixels a character. */
function fit(line, width, perCharacter) {
  const room = Math.floor((width - 8) / perCharacter);
  return line.length <= room ? line : `${line.slice(0, room - 1)}…`;
}

/** Case submitted → each policy in order → combined decision. */
function chainRow(chain) {
  const nodes = [
    { kind: 'start', lines: ['Case submitted', 'facts hashed'] },
    ...chain.policies.map((policy) => ({ kind: 'policy', lines: [`${policy.position}. ${policy.name}`, `v${policy.version}`, policy.digest.slice(0, 12)] })),
    { kind: 'combine', lines: ['Decision', 'most restrictive wins'] },
  ];
  const gap = 28;
  const width = Math.min(170, (WIDTH - 2 * MARGIN - gap * (nodes.length - 1)) / nodes.length);
  const group = svg('g', { class: 'dg-chain' }, text(MARGIN, 22, `Decision points (chain #${chain.number})`, { class: 'dg-title' }));
  nodes.forEach((node, index) => {
    const x = MARGIN + index * (width + gap);
    group.append(box(x, 34, width, 58, node.kind, node.lines));
    if (index > 0) group.append(arrow(x - gap + 2, 63, x - 2, 63));
  });
  return group;
}

/** Where each level's box sits. */
function levelPositions(levels) {
  const positions = new Map();
  levels.forEach((step, index) => {
    positions.set(step.level, { x: MARGIN + index * (LEVEL_BOX.width + LEVEL_BOX.gap), y: LEVEL_BOX.top });
  });
  return positions;
}

/** The ladder's segments, lowest amounts first: auto-approval, each band, the top band. */
function segments(workflow, ladder) {
  const show = (value) => money(value, ladder.currency, ladder.exponent);
  const never = workflow.never_auto_approve.length ? `never ${workflow.never_auto_approve.join('/').replaceAll('_', ' ')}` : '';
  return [
    { kind: 'auto', upTo: ladder.auto_approve_up_to, lines: ['auto-approve', `≤ ${show(ladder.auto_approve_up_to)}`, never] },
    ...ladder.bands.map((band) => ({ kind: band.level, level: band.level, upTo: band.up_to, lines: [band.level, `≤ ${show(band.up_to)}`] })),
    {
      kind: ladder.top_band.level, level: ladder.top_band.level, upTo: null,
      lines: [`${ladder.top_band.approvals} × ${ladder.top_band.level}`, `> ${show(ladder.top_band.above)}`],
    },
  ].map((segment) => ({ ...segment, lines: segment.lines.filter(Boolean) }));
}

function ladderRow(workflow, ladder, levels) {
  const parts = segments(workflow, ladder);
  const top = 186;
  const height = 62;
  const width = (WIDTH - 2 * MARGIN) / parts.length;
  const kind = ladder.kind ? ` (${ladder.kind.replaceAll('_', ' ')} only)` : '';
  const group = svg('g', { class: 'dg-ladder' }, text(MARGIN, 122, `Approval ladder, ${ladder.currency}${kind}`, { class: 'dg-title' }));
  parts.forEach((part, index) => {
    const x = MARGIN + index * width;
    const target = part.level && levels.get(part.level);
    if (target) {
      group.append(arrow(x + width / 2, top + height, target.x + LEVEL_BOX.width / 2, target.y - 2, { class: 'dg-line dg-route' }));
    }
    group.append(box(x, top, width, height, `segment dg-${part.kind}`, part.lines));
  });
  const bounds = parts.map((part) => part.upTo);
  group.append(
    gate(`rationale required above ${money(ladder.rationale_above, ladder.currency, ladder.exponent)}`, ladder.rationale_above, bounds, width, 146),
    gate(`attachment required above ${money(ladder.attachment_above, ladder.currency, ladder.exponent)}`, ladder.attachment_above, bounds, width, 170));
  return group;
}

/** An evidence gate: a bracket over the bar from the gate's amount to the top. */
function gate(label, amountAt, bounds, width, y) {
  const x = gateX(amountAt, bounds, width);
  const end = WIDTH - MARGIN;
  return svg('g', { class: 'dg-gate' },
    svg('line', { x1: x, y1: y, x2: end, y2: y }),
    svg('line', { x1: x, y1: y, x2: x, y2: 186 }),
    text(x + 4, y - 4, label, { class: 'dg-label' }));
}

/** Where an amount falls on the bar: at a segment's edge, or in proportion within it. */
function gateX(amountAt, bounds, width) {
  let below = 0;
  for (let index = 0; index < bounds.length; index += 1) {
    const upper = bounds[index];
    if (upper === null) return MARGIN + (index + 0.5) * width;
    if (amountAt <= upper) {
      const share = upper === below ? 1 : (amountAt - below) / (upper - below);
      return MARGIN + (index + Math.max(0, Math.min(1, share))) * width;
    }
    below = upper;
  }
  return WIDTH - MARGIN;
}

/** The levels with SLA and group, escalation arrows between them, the top level's reminder. */
function levelRow(workflow, levels) {
  const group = svg('g', { class: 'dg-levels' }, text(MARGIN, 296, 'Approver levels, SLAs and escalation', { class: 'dg-title' }));
  for (const step of workflow.levels) {
    const at = levels.get(step.level);
    const approvers = step.approval_group
      ? `group ${step.approval_group.name}: ${step.approval_group.approvals} of ${step.approval_group.members.length}`
      : 'any approver';
    group.append(box(at.x, at.y, LEVEL_BOX.width, LEVEL_BOX.height, `level dg-${step.level}`,
      [step.level, `SLA ${duration(step.sla_minutes)}`, approvers]));
  }
  for (const step of workflow.escalation) group.append(escalationArrow(step, levels));
  return group;
}

function escalationArrow(step, levels) {
  const from = levels.get(step.from);
  const middle = from.y + LEVEL_BOX.height / 2;
  const right = from.x + LEVEL_BOX.width;
  if (step.reminder) {
    const path = `M${right} ${middle - 14} C${right + 55} ${middle - 40}, ${right + 55} ${middle + 40}, ${right + 2} ${middle + 14}`;
    return svg('g', { class: 'dg-escalation' },
      svg('path', { d: path, class: 'dg-line', 'marker-end': 'url(#dg-arrow)' }),
      text(WIDTH - MARGIN, from.y + LEVEL_BOX.height + 22, `reminds every ${duration(step.after_minutes)}`, { 'text-anchor': 'end', class: 'dg-label' }));
  }
  const to = levels.get(step.to);
  return svg('g', { class: 'dg-escalation' },
    arrow(right + 2, middle, to.x - 2, middle),
    text((right + to.x) / 2, middle - 8, `after ${duration(step.after_minutes)}`, { 'text-anchor': 'middle', class: 'dg-label' }));
}

function notes(workflow, height) {
  const failed = workflow.fail_closed;
  return svg('g', { class: 'dg-notes' },
    text(MARGIN, height - 40, `A policy that fails (trap, fuel, deadline, memory, nonsense): ${failed.approvals} ${failed.level} approval with a rationale.`, { class: 'dg-label' }),
    text(MARGIN, height - 20, 'Past its SLA a case moves one level up; the clock never approves or rejects.', { class: 'dg-label' }));
}
