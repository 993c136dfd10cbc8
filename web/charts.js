// charts.js - requests, latency, errors and replicas of a version over
// time, from berthd's own /metrics (docs/observability.md), sampled every
// 5 s while the console is open; kept per version for this tab.
import {h, clear} from './dom.js';
import {t} from './i18n.js';

const EVERY_MS = 5000;
const KEEP = 120; // 10 minutes
const history = new Map(); // ServiceId -> [{at, req, err, sum, count, ready, desired}]
let metricsToken = '';

// {name, labels, value} of each sample line of the text format.
export function parseMetrics(text) {
    const out = [];
    for (const line of text.split('\n')) {
        if (!line || line[0] === '#')
            continue;
        const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
        if (!m)
            continue;
        const labels = {};
        if (m[3])
            for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
                labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
        out.push({name: m[1], labels, value: Number(m[4])});
    }
    return out;
}

function sampleOf(samples, group, version) {
    const s = {at: Date.now(), req: 0, err: 0, sum: 0, count: 0, ready: 0, desired: 0};
    for (const x of samples) {
        if (x.labels.group !== group || x.labels.version !== version)
            continue;
        if (x.name === 'berth_gateway_requests_total') {
            s.req += x.value;
            if (/^5/.test(x.labels.code))
                s.err += x.value;
        } else if (x.name === 'berth_gateway_upstream_seconds_sum') {
            s.sum += x.value;
        } else if (x.name === 'berth_gateway_upstream_seconds_count') {
            s.count += x.value;
        } else if (x.name === 'berth_service_replicas_ready') {
            s.ready = x.value;
        } else if (x.name === 'berth_service_replicas_desired') {
            s.desired = x.value;
        }
    }
    return s;
}

// Per-interval figures from consecutive samples (a counter that went down
// is a restarted berthd: that interval starts from zero).
function series(samples) {
    const rows = [];
    for (let i = 1; i < samples.length; i++) {
        const a = samples[i - 1], b = samples[i];
        const dt = (b.at - a.at) / 1000;
        const d = (k) => (b[k] >= a[k] ? b[k] - a[k] : b[k]);
        rows.push({at: b.at, rps: d('req') / dt, eps: d('err') / dt,
                   ms: d('count') ? (1000 * d('sum')) / d('count') : 0, ready: b.ready});
    }
    return rows;
}

function chart(title, rows, key, unit) {
    const W = 320, H = 120, P = 28;
    const vals = rows.map((r) => r[key]);
    const max = Math.max(1e-9, ...vals) * 1.1;
    // the axis spans what was seen, a minute at least, up to KEEP samples
    const slots = Math.min(KEEP, Math.max(12, vals.length));
    const x = (i) => P + ((W - P - 4) * i) / (slots - 1);
    const y = (v) => H - 16 - ((H - 24) * v) / max;
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('class', 'chart');
    const el = (tag, attrs, text) => {
        const e = document.createElementNS(ns, tag);
        for (const [k, v] of Object.entries(attrs))
            e.setAttribute(k, v);
        if (text !== undefined)
            e.textContent = text;
        svg.append(e);
    };
    el('line', {x1: P, y1: H - 16, x2: W - 4, y2: H - 16, class: 'axis'});
    el('text', {x: 2, y: 12, class: 'tick'}, fmt(max / 1.1));
    el('text', {x: 2, y: H - 16, class: 'tick'}, '0');
    const off = slots - vals.length;
    vals.forEach((v, i) => el('circle', {cx: x(i + off).toFixed(1), cy: y(v).toFixed(1), r: 1.8, class: 'dot'}));
    if (vals.length)
        el('polyline', {points: vals.map((v, i) => `${x(i + off).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
                        class: 'line'});
    const last = vals.length ? vals[vals.length - 1] : null;
    return h('figure', {class: 'chart-box', 'data-chart': key},
        h('figcaption', {}, title, h('span', {class: 'sub', 'data-testid': `chart-${key}`},
                                     last === null ? ' —' : ` ${fmt(last)} ${unit}`)), svg);
}

function fmt(v) {
    return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function chartsPanel(panel, group, version) {
    const samples = history.get(version) || [];
    history.set(version, samples);
    const box = h('div', {class: 'charts'});
    const note = h('p', {class: 'hint', 'data-testid': 'charts-note'}, t('charts.note'));
    const tokenInput = h('input', {type: 'password', placeholder: t('charts.token'), 'data-testid': 'metrics-token'});
    const tokenRow = h('div', {class: 'filters', hidden: true}, tokenInput,
        h('button', {onclick: () => { metricsToken = tokenInput.value.trim(); tick(); }}, t('charts.useToken')));
    clear(panel, note, tokenRow, box);
    const draw = () => {
        const rows = series(samples);
        clear(box, chart(t('charts.requests'), rows, 'rps', 'req/s'),
                   chart(t('charts.latency'), rows, 'ms', 'ms'),
                   chart(t('charts.errors'), rows, 'eps', 'req/s'),
                   chart(t('charts.replicas'), rows, 'ready', ''));
    };
    async function tick() {
        let res;
        try {
            res = await fetch('/metrics', {cache: 'no-store',
                headers: metricsToken ? {Authorization: `Bearer ${metricsToken}`} : {}});
        } catch {
            return;
        }
        if (res.status === 401) {
            tokenRow.hidden = false;
            return;
        }
        if (!res.ok)
            return;
        tokenRow.hidden = true;
        samples.push(sampleOf(parseMetrics(await res.text()), group, version));
        if (samples.length > KEEP + 1)
            samples.splice(0, samples.length - KEEP - 1);
        draw();
    }
    draw();
    tick();
    const timer = setInterval(tick, EVERY_MS);
    return () => clearInterval(timer);
}
