// Cluster: the store this node answers from and, for a cluster on etcd,
// this node's part in its health (verdicts, fallback, the events' leader)
// and every live node with the revision it has applied. Refreshed every
// two seconds while shown, so that a partition shows as it happens.

import { get } from './api.js';
import { h, clear, badge, timeEl, table, errorBox } from './ui.js';

const EVERY = 2000;

function vantage(v) {
  if (!v) return '—';
  return [v.region, v.continent, v.country].filter(Boolean).join(' · ') || '—';
}

export async function render(root) {
  const storePanel = h('section.panel', { 'aria-labelledby': 'cl-store' });
  const selfPanel = h('section.panel', { 'aria-labelledby': 'cl-self' });
  const nodesPanel = h('section.panel', { 'aria-labelledby': 'cl-nodes' });
  const head = h('div.summary', { 'aria-live': 'polite' });
  clear(root, h('div.pagehead', h('h1', 'Cluster'), head), storePanel, selfPanel, nodesPanel);

  async function draw() {
    // The status never needs etcd; the nodes' report reads it, and is
    // refused (503) while etcd is out of reach.
    let status;
    const report = get('/cluster').catch(err => ({ err }));
    try {
      status = await get('/status');
    } catch (err) {
      clear(storePanel, h('h2#cl-store', 'Store'), errorBox(err));
      return;
    }
    drawStatus(status);
    drawNodes(await report);
  }

  function drawStatus(status) {
    const st = status.store;
    const cl = st.cluster;
    clear(head,
      st.reachable ? badge('store reachable', 'good', { dataset: { reach: 'yes' } }) : badge('store unreachable', 'bad', { dataset: { reach: 'no' } }),
      ' ',
      cl ? (cl.fallback ? badge('own probes', 'warn', { dataset: { verdicts: 'own' } }) : badge('cluster verdicts', 'good', { dataset: { verdicts: 'cluster' } })) : null);
    clear(storePanel, h('h2#cl-store', 'Store'),
      h('dl.facts',
        h('dt', 'Kind'), h('dd', st.kind === 'etcd' ? 'etcd, shared with the other nodes' : 'embedded file, this node only'),
        h('dt', 'Where'), h('dd', h('code', st.where)),
        h('dt', 'Reachable'), h('dd', st.reachable ? 'yes' : h('span.tone-text-bad', 'no (' + (st.error || 'no reason given') + ')'), ' ', h('span.muted', 'since '), timeEl(st.since)),
        h('dt', 'Revision'), h('dd', String(status.revision))),
      st.reachable ? null : h('div.alert.tone-bad', { role: 'alert' },
        h('p', 'Writes are refused until the store is back; answers continue from revision ' + status.revision + '.')));
    if (cl) {
      clear(selfPanel, h('h2#cl-self', 'This node: ' + cl.node),
        cl.conflict ? h('div.alert.tone-bad', { role: 'alert', dataset: { conflict: 'yes' } }, h('p', cl.conflict)) : null,
        cl.fallback ? h('div.alert.tone-bad', { role: 'alert', dataset: { fallback: 'yes' } },
          h('p', 'Answering from its own probes: ' + (cl.reason || 'etcd unreachable') + '.')) : null,
        h('dl.facts',
          h('dt', 'Vantage'), h('dd', vantage(cl.vantage)),
          h('dt', 'Probes'), h('dd', cl.probe ? 'yes' : 'no (resolution only: answers from the others\' verdicts)'),
          h('dt', 'Quorum'), h('dd', cl.quorum + '% of the live nodes probing an address'),
          h('dt', 'Verdicts'), h('dd', cl.fallback ? 'its own probes' : (cl.synced ? 'the cluster\'s' : 'not read yet'),
            cl.since ? [' ', h('span.muted', 'since '), timeEl(cl.since)] : null),
          h('dt', 'Addresses voted on'), h('dd', `${cl.votes}, of which ${cl.down} down`),
          h('dt', 'Records events'), h('dd', cl.leader ? 'yes (elected: it records the cluster\'s events and sends its alerts)' : 'no')));
    } else {
      clear(selfPanel, h('h2#cl-self', 'This node'), h('p.muted', 'One node: its store is not shared. Put the store in etcd to share configuration and health with other nodes.'));
    }
  }

  // The last report read, kept while etcd is out of reach: in an
  // incident the nodes last seen say more than an error alone.
  let last = null, lastAt = null;

  function drawNodes(report) {
    if (report.err) {
      const why = report.err.message || String(report.err);
      clear(nodesPanel, h('h2#cl-nodes', 'Nodes'),
        h('div.alert.tone-warn', { role: 'status', dataset: { stale: 'yes' } },
          h('p', last ? ['Not refreshed since ', timeEl(lastAt), ': ', why, '. The nodes as last read:'] : why)),
        last ? nodesTable(last) : null);
      return;
    }
    last = report;
    lastAt = new Date().toISOString();
    clear(nodesPanel, h('h2#cl-nodes', 'Nodes'), nodesTable(report));
  }

  function nodesTable(report) {
    return [
      h('p', { dataset: { insync: report.status } }, report.status === 'insync'
        ? badge('in sync', 'good') : badge('pending', 'warn'),
        ` at revision ${report.revision}`, report.behind.length ? ': behind ' + report.behind.join(', ') : ': every live node has applied it'),
      table('Live nodes', ['Node', 'Vantage', 'Probes', 'Revision applied', 'Since'], report.nodes.map(n =>
        h('tr', { dataset: { node: n.node } },
          h('th', { scope: 'row' }, n.node, n.self ? h('span.muted', ' (this node)') : null),
          h('td', vantage(n.vantage)),
          h('td', n.probe ? 'yes' : 'no'),
          h('td.num', { class: n.revision < report.revision ? 'tone-text-warn' : '' }, String(n.revision)),
          h('td', timeEl(n.time)))))];
  }

  await draw();
  const timer = setInterval(draw, EVERY);
  return { dispose() { clearInterval(timer); } };
}
