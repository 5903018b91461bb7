// Dashboard (#/dashboard): the headline figures and signals of GET /v1/metrics/summary, and the
// six charts the server draws as SVG (GET /v1/charts/{id}), for one team or all. Each chart is
// fetched with the token, parsed as SVG, cleaned and imported as a node: never written as HTML.
// For admins and auditors, changes to the controls waiting for a second admin come first (chain
// proposals, rollbacks one admin made alone, GET /v1/policies; proposals of approval groups,
// floors and code routing, GET /v1/controls).

import { describe, getJson, getText } from './api.js';
import { SVG_NS, badge, empty, h } from './dom.js';

/** The charts, in the order they are shown. */
const CHARTS = [
  { id: 'leakage', title: 'Refund leakage' },
  { id: 'cycle-time', title: 'Cycle time' },
  { id: 'pareto', title: 'Exception codes (Pareto)' },
  { id: 'approver-outliers', title: 'Approver outliers' },
  { id: 'remediation-sla', title: 'Remediation SLA' },
  { id: 'drift', title: 'Drift in the code mix' },
];

/** Elements an SVG from the API may not bring in. */
const UNSAFE_ELEMENTS = ['script', 'foreignObject', 'iframe', 'object', 'embed', 'style'];

export async function render(page, { me, query }) {
  const team = query.get('team') || '';
  const suffix = team ? `?team=${encodeURIComponent(team)}` : '';
  const toolbar = h('div', { class: 'toolbar' });
  const headline = h('section', { class: 'cards', 'aria-label': 'Headline figures' });
  const signals = h('section', { class: 'signals', 'aria-labelledby': 'signals-title' });
  const charts = h('section', { class: 'charts', 'aria-label': 'Charts' }, CHARTS.map(chartFigure));
  const controls = h('section', { class: 'panel flagged', 'aria-labelledby': 'controls-title', hidden: true });
  page.append(h('h1', {}, 'Dashboard'), controls, toolbar, headline, signals, charts);
  if (me.roles.some((role) => role === 'admin' || role === 'auditor')) loadControls(controls);
  for (const figure of charts.children) loadChart(figure, suffix);
  const summary = await getJson(`/v1/metrics/summary${suffix}`);
  toolbar.append(period(summary), teamPicker(summary.teams ?? [], team));
  headline.append(...(summary.headline ?? []).map(card));
  signals.append(h('h2', { id: 'signals-title' }, 'Signals'), signalList(summary.signals ?? []));
}

/** Control changes one admin made that wait for a second: shown until there are none. */
async function loadControls(section) {
  try {
    const [{ registry, rollbacks_awaiting_confirmation: unconfirmed }, controls] =
      await Promise.all([getJson('/v1/policies'), getJson('/v1/controls')]);
    const items = [
      ...(registry.proposals ?? []).map((proposal) =>
        `Chain proposal ${proposal.number} by ${proposal.proposed.by} waits for a second admin's approval.`),
      ...unconfirmed.map((number) => `Chain #${number}, a rollback one admin made alone, is not yet confirmed by a second.`),
      ...controls.proposals.map((proposal) =>
        `Control proposal ${proposal.number} (${proposal.change.control.replaceAll('_', ' ')}) by ${proposal.proposed.by} waits for a second admin's approval.`),
    ];
    if (!items.length) return;
    section.append(h('h2', { id: 'controls-title' }, 'Controls awaiting a second admin'),
      h('ul', {}, items.map((item) => h('li', {}, item))),
      h('p', {}, h('a', { href: '#/policies' }, 'Review them on the Policies page')));
    section.hidden = false;
  } catch (error) {
    section.append(h('p', {}, `The controls could not be read: ${describe(error)}`));
    section.hidden = false;
  }
}

function period(summary) {
  const scope = summary.team ? `team ${summary.team}` : 'all teams';
  return h('p', { class: 'period' }, `${summary.from} to ${summary.to}, ${scope}`);
}

/** A team selector; choosing one reloads the page for that team. */
function teamPicker(teams, current) {
  const select = h('select', { id: 'team', name: 'team' },
    h('option', { value: '' }, 'All teams'),
    teams.map((team) => h('option', { value: team, selected: team === current }, team)));
  select.addEventListener('change', () => {
    location.hash = select.value ? `#/dashboard?team=${encodeURIComponent(select.value)}` : '#/dashboard';
  });
  return h('p', { class: 'picker' }, h('label', { for: 'team' }, 'Team '), select);
}

/** Whether a change against the baseline is for the better: the server says which way is. */
function changeClass(change, betterWhen) {
  if (/^[+±-]?0(\.0)?( pts|%)$/.test(change.replace('+', ''))) return 'flat';
  const down = change.startsWith('-');
  return down === (betterWhen === 'lower') ? 'better' : 'worse';
}

function card(figure) {
  const change = figure.change_vs_baseline;
  const direction = change ? changeClass(change, figure.better_when) : 'flat';
  return h('article', { class: 'card', 'data-figure': figure.id },
    h('h2', {}, figure.label),
    h('p', { class: 'value' }, figure.value),
    figure.detail ? h('p', { class: 'detail' }, figure.detail) : null,
    change ? h('p', { class: `change change-${direction}` }, `${change} vs baseline`) : null);
}

function signalList(signals) {
  if (!signals.length) return empty('No signals: nothing stands out.');
  return h('ul', { class: 'signal-list' }, signals.map((signal) =>
    h('li', { 'data-signal': signal.kind, class: `signal severity-${signal.severity}` },
      badge(signal.severity), ' ',
      h('span', { class: 'signal-kind' }, signal.kind.replaceAll('_', ' ')), ' ',
      h('strong', {}, signal.subject), ' ',
      h('span', { class: 'signal-detail' }, signal.detail))));
}

function chartFigure(chart) {
  const caption = h('figcaption', { id: `chart-${chart.id}-title` }, chart.title);
  return h('figure', { class: 'chart', 'data-chart': chart.id, 'data-state': 'loading' },
    caption, h('div', { class: 'chart-body' }, h('p', { class: 'muted' }, 'Loading…')));
}

async function loadChart(figure, suffix) {
  const id = figure.dataset.chart;
  const body = figure.querySelector('.chart-body');
  try {
    const text = await getText(`/v1/charts/${encodeURIComponent(id)}${suffix}`, 'image/svg+xml');
    const image = importSvg(text);
    image.setAttribute('role', 'img');
    image.setAttribute('aria-labelledby', `chart-${id}-title`);
    body.replaceChildren(image);
    figure.dataset.state = 'loaded';
  } catch (error) {
    body.replaceChildren(h('p', { class: 'chart-error' }, `This chart could not be drawn: ${describe(error)}`));
    figure.dataset.state = 'error';
  }
}

/** Parses SVG text into a node of this document, without scripts, handlers or foreign content. */
export function importSvg(text) {
  const parsed = new DOMParser().parseFromString(text, 'image/svg+xml');
  const root = parsed.documentElement;
  if (parsed.getElementsByTagName('parsererror').length || root.namespaceURI !== SVG_NS || root.localName !== 'svg') {
    throw new Error('the server did not send an SVG image');
  }
  for (const name of UNSAFE_ELEMENTS) {
    for (const element of [...root.getElementsByTagName(name)]) element.remove();
  }
  for (const element of [root, ...root.querySelectorAll('*')]) scrubAttributes(element);
  return document.importNode(root, true);
}

function scrubAttributes(element) {
  for (const attribute of [...element.attributes]) {
    const name = attribute.name.toLowerCase();
    const link = name === 'href' || name.endsWith(':href');
    if (name.startsWith('on') || name === 'style' || (link && !attribute.value.startsWith('#'))) {
      element.removeAttribute(attribute.name);
    }
  }
}
