// list.js - 在线服务: the region's service groups, filtered and paged, with
// each row's actions.
import {call} from './api.js';
import {h, clear, confirmDialog, confirmRun, promptDialog, fmtTime} from './dom.js';
import {t, statusText} from './i18n.js';

const PAGE = 10;
const STATUSES = ['Normal', 'Stopped', 'Stopping', 'CREATING', 'CREATE_FAILED', 'Abnormal',
                  'Pending', 'Waiting'];

export function statusBadge(status) {
    const s = status || 'CREATING';
    return h('span', {class: `status status-${s.toLowerCase()}`, 'data-status': s}, statusText(s));
}

export function tagsText(tags) {
    return (tags || []).map((x) => `${x.TagKey}:${x.TagValue}`).join(', ');
}

// The version actions a list row and a service page share: each confirmed,
// each a ModifyModelService or a delete, then 'done' (a refresh).
export function versionActions(svc, ctx, done) {
    const id = svc.ServiceId;
    const modify = async (params) => {
        try {
            await call('ModifyModelService', {ServiceId: id, ...params});
        } catch (err) {
            ctx.fail(err);
        }
        done();
    };
    const stopped = svc.Status === 'Stopped' || svc.Status === 'Stopping';
    return [
        !stopped && h('button', {class: 'link', 'data-testid': `stop-${id}`, onclick: async () => {
            if (await confirmDialog(t('confirm.stop', id), t('action.stop'), t('action.cancel')))
                modify({ServiceAction: 'STOP'});
        }}, t('action.stop')),
        stopped && h('button', {class: 'link', 'data-testid': `resume-${id}`, onclick: async () => {
            if (await confirmDialog(t('confirm.resume', id), t('action.resume'), t('action.cancel')))
                modify({ServiceAction: 'RESUME'});
        }}, t('action.resume')),
        h('button', {class: 'link', 'data-testid': `scale-${id}`, onclick: async () => {
            const v = await promptDialog(t('confirm.scale', id), svc.ServiceInfo?.Replicas ?? 1,
                                         t('action.scale'), t('action.cancel'));
            if (v !== null)
                modify({ServiceAction: 'SCALE', ScaleMode: 'MANUAL', Replicas: Number(v)});
        }}, t('action.scale')),
        h('button', {class: 'link danger', 'data-testid': `delete-${id}`, onclick: () =>
            confirmRun(t('confirm.delete', id), t('action.delete'), t('action.cancel'),
                       () => call('DeleteModelService', {ServiceId: id}), ctx.fail, done)},
          t('action.delete')),
    ];
}

export function listPage(el, ctx) {
    let offset = 0;
    const name = h('input', {placeholder: t('list.searchName'), 'data-testid': 'filter-name'});
    const tag = h('input', {placeholder: t('list.searchTag'), 'data-testid': 'filter-tag'});
    const status = h('select', {'data-testid': 'filter-status'},
        h('option', {value: ''}, t('list.allStatus')),
        STATUSES.map((s) => h('option', {value: s}, statusText(s))));
    const body = h('tbody', {});
    const pager = h('div', {class: 'pager'});
    const reload = () => load();
    for (const input of [name, tag])
        input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { offset = 0; load(); } });
    status.addEventListener('change', () => { offset = 0; load(); });

    async function load() {
        const params = {Offset: offset, Limit: PAGE, Order: 'DESC', OrderField: 'CreateTime',
                        Filters: []};
        if (name.value.trim())
            params.Filters.push({Name: 'ServiceGroupName', Values: [name.value.trim()], Fuzzy: true});
        if (status.value)
            params.Filters.push({Name: 'Status', Values: [status.value]});
        if (tag.value.trim()) {
            const [k, ...v] = tag.value.trim().split(/[:=]/);
            params.TagFilters = [{TagKey: k, TagValues: v.length ? [v.join(':')] : []}];
        }
        let r;
        try {
            r = await call('DescribeModelServiceGroups', params);
        } catch (err) {
            return ctx.fail(err);
        }
        clear(body, r.ServiceGroups.length ? r.ServiceGroups.map(row)
                  : h('tr', {}, h('td', {colspan: 8, class: 'empty'}, t('list.empty'))));
        const pages = Math.max(1, Math.ceil(r.TotalCount / PAGE));
        const page = Math.floor(offset / PAGE) + 1;
        clear(pager,
            h('span', {'data-testid': 'total'}, t('list.total', r.TotalCount)),
            h('button', {disabled: offset === 0, 'data-testid': 'page-prev',
                         onclick: () => { offset -= PAGE; load(); }}, '‹'),
            h('span', {}, `${page} / ${pages}`),
            h('button', {disabled: offset + PAGE >= r.TotalCount, 'data-testid': 'page-next',
                         onclick: () => { offset += PAGE; load(); }}, '›'));
    }

    function row(g) {
        const svcs = g.Services || [];
        const one = svcs.length === 1 ? svcs[0] : null;
        const rows = [h('tr', {'data-group': g.ServiceGroupId},
            h('td', {}, h('a', {href: `#/services/${g.ServiceGroupId}`, class: 'name'},
                          g.ServiceGroupName),
              h('div', {class: 'sub'}, g.ServiceGroupId)),
            h('td', {}, statusBadge(g.Status)),
            h('td', {}, String(g.ServiceCount)),
            h('td', {'data-testid': `replicas-${g.ServiceGroupId}`},
              `${g.AvailableReplicasCount} / ${g.ReplicasCount}`),
            h('td', {}, t(`charge.${svcs[0]?.ChargeType || 'POSTPAID_BY_HOUR'}`)),
            h('td', {class: 'tags'}, tagsText(g.Tags)),
            h('td', {}, fmtTime(g.CreateTime)),
            h('td', {class: 'actions'},
              one && versionActions(one, ctx, reload),
              !one && h('a', {href: `#/services/${g.ServiceGroupId}`, class: 'link'}, t('action.open')),
              !one && h('button', {class: 'link danger', 'data-testid': `delete-${g.ServiceGroupId}`,
                                   onclick: () => confirmRun(
                  t('confirm.deleteGroup', g.ServiceGroupName), t('action.delete'), t('action.cancel'),
                  () => call('DeleteModelServiceGroup', {ServiceGroupId: g.ServiceGroupId}),
                  ctx.fail, reload)}, t('action.delete'))))];
        if (!one)
            for (const s of svcs)
                rows.push(h('tr', {class: 'version-row', 'data-service': s.ServiceId},
                    h('td', {}, h('span', {class: 'sub'}, `v${s.Version} · ${s.ServiceId}`)),
                    h('td', {}, statusBadge(s.Status)),
                    h('td', {}, t('list.weight', s.Weight)),
                    h('td', {}, `${s.ServiceInfo?.Status?.ReadyReplicas ?? 0} / ${s.ServiceInfo?.Replicas ?? 0}`),
                    h('td', {colspan: 3}),
                    h('td', {class: 'actions'}, versionActions(s, ctx, reload))));
        return rows;
    }

    clear(el,
        h('div', {class: 'title'}, h('h1', {}, t('nav.services')),
          h('a', {href: '#/services/new', class: 'button primary', 'data-testid': 'new-service'},
            t('list.new'))),
        h('div', {class: 'filters'}, name, tag, status,
          h('button', {onclick: () => { offset = 0; load(); }, 'data-testid': 'search'},
            t('list.search'))),
        h('table', {class: 'list', 'data-testid': 'service-list'},
          h('thead', {}, h('tr', {},
            ['col.name', 'col.status', 'col.versions', 'col.replicas', 'col.charge', 'col.tags',
             'col.created', 'col.actions'].map((k) => h('th', {}, t(k))))),
          body),
        pager);
    load();
    const timer = setInterval(load, 5000);
    ctx.onLeave(() => clearInterval(timer));
}
