// Live traffic charts drawn as SVG polylines from the /stats endpoints'
// counters: rates are the difference of two polls over the time between
// them; active connections are drawn as they are.

import { h, s, replace } from './dom.js';
import { get } from './api.js';

const W = 480, H = 120, PAD = 30, KEEP = 90;

const GROUPS = [
  { title: 'Connections', unit: '', series: [
    { label: 'active', value: (st) => st.active_connections, gauge: true },
    { label: 'new /s', value: (st) => st.total_connections },
  ] },
  { title: 'Request errors', unit: '/s', series: [
    { label: 'errors /s', value: (st) => st.request_errors },
  ] },
  { title: 'Bytes', unit: 'B/s', series: [
    { label: 'in B/s', value: (st) => st.bytes_in },
    { label: 'out B/s', value: (st) => st.bytes_out },
  ] },
];

const COUNTERS = ['active_connections', 'total_connections', 'request_errors', 'bytes_in', 'bytes_out'];

// A member's counters (fulcrum's …/members/{id}/stats): connections or
// requests sent to it, and failed attempts to connect to it.
const MEMBER_GROUPS = [
  { title: 'Connections', unit: '', series: [
    { label: 'active', value: (st) => st.active_connections, gauge: true },
    { label: 'new /s', value: (st) => st.total_connections },
  ] },
  { title: 'Connect errors', unit: '/s', series: [
    { label: 'errors /s', value: (st) => st.connect_errors },
  ] },
];

const MEMBER_COUNTERS = ['active_connections', 'total_connections', 'connect_errors'];

const PROFILES = {
  traffic: { groups: GROUPS, counters: COUNTERS },
  member: { groups: MEMBER_GROUPS, counters: MEMBER_COUNTERS },
};

function fmt(v) {
  if (!isFinite(v)) return '0';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

// StatsPanel polls one stats path and draws its charts: a load balancer's
// or listener's ('traffic', the default) or a member's ('member').
export class StatsPanel {
  constructor(title, path, profile = 'traffic') {
    this.path = path;
    this.profile = PROFILES[profile];
    this.samples = [];
    this.el = h('section', { class: 'chart', 'data-stats': path });
    this.title = title;
    this.draw();
  }

  // poll reads the counters once; errors are shown, never thrown.
  async poll(signal) {
    try {
      const st = (await get(this.path, { signal })).stats;
      this.samples.push({ t: performance.now() / 1000, st });
      if (this.samples.length > KEEP) this.samples.shift();
      this.error = null;
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.error = e.message;
    }
    this.draw();
  }

  points(series) {
    const out = [];
    for (let i = 0; i < this.samples.length; i++) {
      const cur = this.samples[i];
      if (series.gauge) {
        out.push({ t: cur.t, v: series.value(cur.st) });
        continue;
      }
      if (i === 0) continue;
      const prev = this.samples[i - 1];
      const dt = cur.t - prev.t;
      const dv = series.value(cur.st) - series.value(prev.st);
      // A counter that went down was reset (agent restart): no rate.
      out.push({ t: cur.t, v: dt > 0 && dv >= 0 ? dv / dt : 0 });
    }
    return out;
  }

  draw() {
    const last = this.samples.length ? this.samples[this.samples.length - 1].st : null;
    const now = this.samples.length ? this.samples[this.samples.length - 1].t : 0;
    const charts = this.profile.groups.map((g) => {
      const lines = g.series.map((se) => ({ se, pts: this.points(se) }));
      const max = Math.max(1, ...lines.flatMap((l) => l.pts.map((p) => p.v)));
      const x = (t) => PAD + (W - PAD) * (1 - Math.min(1, (now - t) / (KEEP * 2)));
      const y = (v) => H - 14 - (H - 24) * (v / max);
      return h('div', { class: 'plot', 'data-group': g.title },
        h('div', { class: 'muted' }, g.title),
        s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${g.title} of ${this.title}` },
          s('line', { class: 'axis', x1: PAD, y1: H - 14, x2: W, y2: H - 14 }),
          s('line', { class: 'axis', x1: PAD, y1: 10, x2: PAD, y2: H - 14 }),
          s('text', { class: 'label', x: 2, y: 14 }, fmt(max)),
          s('text', { class: 'label', x: 2, y: H - 14 }, '0'),
          s('text', { class: 'label', x: PAD, y: H - 2 }, '−3 min'),
          s('text', { class: 'label', x: W - 24, y: H - 2 }, 'now'),
          lines.map((l, i) => s('polyline', { class: 's' + i, 'data-series': l.se.label, 'data-points': l.pts.length,
            points: l.pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ') }))),
        h('div', { class: 'legend' }, lines.map((l, i) => {
          const v = l.pts.length ? l.pts[l.pts.length - 1].v : 0;
          return h('span', null, h('span', { class: 'swatch s' + i }), `${l.se.label}: `, h('b', { 'data-rate': l.se.label }, fmt(v)));
        })));
    });
    replace(this.el,
      h('h3', null, this.title),
      this.error ? h('div', { class: 'alert', role: 'alert' }, this.error) : null,
      h('div', { class: 'counters' }, this.profile.counters.map((k) => h('span', null, k + ' ', h('b', { 'data-stat': k }, last ? String(last[k]) : '—')))),
      charts);
  }
}
