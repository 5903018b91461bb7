// Policies (#/policies, admins and auditors): GET /v1/policies. The chain this host runs now,
// the active chain and the shadow chain as the registry records them, every chain activated
// (rollbacks name the chain they restore), and every plugin uploaded, by digest.

import { getJson } from './api.js';
import { empty, facts, h, shortHash, table, time } from './dom.js';

export async function render(page) {
  page.append(h('h1', {}, 'Policies'));
  const { registry, loaded } = await getJson('/v1/policies');
  const uploads = registry.uploads ?? {};
  const active = registry.chains.at(-1);
  page.append(
    loadedChain(loaded),
    activeChain(active, uploads),
    shadowChain(registry.shadow, uploads),
    history(registry.chains),
    uploadList(Object.values(uploads)));
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
    h('td', {}, chain.activated_by), h('td', {}, time(chain.activated_at)), h('td', {}, chain.rationale)));
  return h('section', { class: 'panel', 'aria-labelledby': 'policies-history' },
    h('h2', { id: 'policies-history' }, 'Chains activated'),
    rows.length ? table(null, ['Chain', 'Policies', 'Restores', 'By', 'At', 'Rationale'], rows) : empty('None yet.'));
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
