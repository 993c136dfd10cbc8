// service.js - one service group: its versions and their weights, and for
// the chosen version its instances, events, logs, call information and
// charts.
import {call} from './api.js';
import {h, clear, confirmDialog, confirmRun, fmtTime} from './dom.js';
import {t, statusText} from './i18n.js';
import {statusBadge, tagsText, versionActions} from './list.js';
import {chartsPanel} from './charts.js';

export async function servicePage(el, ctx, groupId) {
    let chosen = null; // ServiceId
    let tab = 'instances';
    let group = null;
    const timers = [];
    let stopTab = null;
    ctx.onLeave(() => {
        timers.forEach(clearInterval);
        if (stopTab)
            stopTab();
    });

    const head = h('div', {class: 'title'});
    const versions = h('div', {class: 'card'});
    const tabs = h('div', {class: 'tabs'});
    const panel = h('div', {class: 'card panel', 'data-testid': 'panel'});
    clear(el, head, versions, tabs, panel);

    async function load() {
        try {
            group = (await call('DescribeModelServiceGroup', {ServiceGroupId: groupId})).ServiceGroup;
        } catch (err) {
            if (err.code === 'ResourceNotFound' || /not exist|not found/i.test(err.message)) {
                location.hash = '#/services';
                return;
            }
            return ctx.fail(err);
        }
        const svcs = group.Services || [];
        if (!chosen || !svcs.some((s) => s.ServiceId === chosen))
            chosen = svcs.length ? svcs[svcs.length - 1].ServiceId : null;
        drawHead();
        drawVersions();
        drawTabs();
    }

    function drawHead() {
        clear(head,
            h('h1', {}, h('a', {href: '#/services', class: 'back'}, '‹ '), group.ServiceGroupName,
              ' ', statusBadge(group.Status)),
            h('span', {class: 'sub', 'data-testid': 'group-id'}, group.ServiceGroupId),
            h('span', {class: 'sub'}, tagsText(group.Tags)),
            h('span', {class: 'spacer'}),
            h('a', {href: `#/services/${groupId}/new-version`, class: 'button', 'data-testid': 'new-version'},
              t('service.newVersion')),
            h('button', {class: 'danger', 'data-testid': 'delete-group', onclick: async () => {
                if (!await confirmDialog(t('confirm.deleteGroup', group.ServiceGroupName),
                                         t('action.delete'), t('action.cancel')))
                    return;
                try {
                    await call('DeleteModelServiceGroup', {ServiceGroupId: groupId});
                    location.hash = '#/services';
                } catch (err) {
                    ctx.fail(err);
                }
            }}, t('service.deleteGroup')));
    }

    // Weights are edited by sliders and sent together; while the sliders
    // are being moved the refresh leaves them alone.
    let editing = false;
    function drawVersions() {
        if (editing)
            return;
        const svcs = group.Services || [];
        const sliders = new Map();
        const save = h('button', {class: 'primary', 'data-testid': 'save-weights', disabled: true,
                                  onclick: async () => {
            save.disabled = true;
            try {
                await call('ModifyServiceGroupWeights', {ServiceGroupId: groupId,
                    Weights: [...sliders].map(([id, s]) => ({ServiceId: id, Weight: Number(s.value)}))});
                editing = false;
            } catch (err) {
                ctx.fail(err);
                save.disabled = false;
                return;
            }
            load();
        }}, t('service.saveWeights'));
        const total = () => [...sliders.values()].reduce((a, s) => a + Number(s.value), 0);
        const shares = new Map();
        const showShares = () => {
            const sum = total();
            for (const [id, s] of sliders)
                shares.get(id).textContent = sum ? `${Math.round((100 * s.value) / sum)}%` : '0%';
        };
        clear(versions,
            h('h2', {}, t('service.versions'),
              h('span', {class: 'sub', 'data-testid': 'weight-status'},
                group.WeightUpdateStatus ? ` · ${t('weights.' + group.WeightUpdateStatus)}` : '')),
            h('table', {class: 'list', 'data-testid': 'versions'},
              h('thead', {}, h('tr', {}, ['col.version', 'col.status', 'col.replicas', 'col.weight',
                                          'col.created', 'col.actions'].map((k) => h('th', {}, t(k))))),
              h('tbody', {}, svcs.map((s) => {
                  const slider = h('input', {type: 'range', min: 0, max: 100, step: 1, value: s.Weight,
                                             'data-testid': `weight-${s.ServiceId}`,
                                             oninput: () => { editing = true; save.disabled = false;
                                                              value.textContent = slider.value; showShares(); }});
                  const value = h('span', {class: 'weight-value', 'data-testid': `weight-value-${s.ServiceId}`},
                                  String(s.Weight));
                  const share = h('span', {class: 'sub'});
                  sliders.set(s.ServiceId, slider);
                  shares.set(s.ServiceId, share);
                  return h('tr', {class: s.ServiceId === chosen ? 'chosen' : '', 'data-service': s.ServiceId},
                      h('td', {}, h('button', {class: 'link', onclick: () => { chosen = s.ServiceId; drawVersions(); drawTabs(); }},
                                    `v${s.Version}`), h('div', {class: 'sub'}, s.ServiceId)),
                      h('td', {'data-testid': `status-${s.ServiceId}`}, statusBadge(s.Status),
                        s.ServiceInfo?.Status?.Reason && h('div', {class: 'sub'}, s.ServiceInfo.Status.Reason),
                        s.CreateFailedReason && s.Status === 'CREATE_FAILED' && h('div', {class: 'sub'}, s.CreateFailedReason)),
                      h('td', {}, `${s.ServiceInfo?.Status?.ReadyReplicas ?? 0} / ${s.ServiceInfo?.Replicas ?? 0}`),
                      h('td', {class: 'weight'}, slider, value, ' ', share),
                      h('td', {}, fmtTime(s.CreateTime)),
                      h('td', {class: 'actions'},
                        h('a', {class: 'link', href: `#/services/${groupId}/edit/${s.ServiceId}`,
                                'data-testid': `edit-${s.ServiceId}`}, t('action.edit')),
                        versionActions(s, ctx, load)));
              }))),
            svcs.length > 0 && h('div', {class: 'buttons'}, save));
        showShares();
    }

    function drawTabs() {
        const names = ['instances', 'events', 'logs', 'call', 'charts'];
        clear(tabs, names.map((n) => h('button', {class: n === tab ? 'tab active' : 'tab',
                                                  'data-testid': `tab-${n}`,
                                                  onclick: () => { tab = n; drawTabs(); }},
                                       t(`tab.${n}`))));
        const key = `${tab}:${chosen}`;
        if (panel.dataset.key === key && tab !== 'instances')
            return; // a live panel (logs, charts) keeps its own state
        panel.dataset.key = key;
        if (stopTab) {
            stopTab();
            stopTab = null;
        }
        const svc = (group.Services || []).find((s) => s.ServiceId === chosen);
        if (!svc)
            return clear(panel, h('p', {class: 'empty'}, t('service.noVersion')));
        if (tab === 'instances')
            return instances(svc);
        if (tab === 'events')
            stopTab = events(svc);
        if (tab === 'logs')
            stopTab = logs(svc);
        if (tab === 'call')
            return callInfo();
        if (tab === 'charts')
            stopTab = chartsPanel(panel, group.ServiceGroupId, svc.ServiceId);
    }

    function instances(svc) {
        const pods = svc.ServiceInfo?.PodInfos || [];
        const info = svc.ServiceInfo || {};
        clear(panel,
            h('dl', {class: 'facts'},
              h('dt', {}, t('field.spec')), h('dd', {}, info.InstanceType ? `${info.InstanceType} (${info.InstanceAlias || ''})`
                                                       : `${info.Resources?.Cpu ?? ''}m / ${info.Resources?.Memory ?? ''} MB`),
              h('dt', {}, t('field.model')), h('dd', {}, info.ModelInfo ? `${info.ModelInfo.ModelName} ${info.ModelInfo.ModelVersion} (${info.ModelInfo.ModelFormat})`
                                                        : info.ImageInfo?.ImageUrl || info.Command || ''),
              h('dt', {}, t('field.scaling')), h('dd', {}, info.ScaleMode === 'AUTO' ? `AUTO · ${info.ScaleStrategy}` : `MANUAL · ${info.Replicas}`),
              h('dt', {}, t('field.charge')), h('dd', {}, t(`charge.${svc.ChargeType}`))),
            h('table', {class: 'list', 'data-testid': 'pods'},
              h('thead', {}, h('tr', {}, ['col.pod', 'col.status', 'col.address', 'col.ready', 'col.restarts',
                                          'col.cpu', 'col.memory', 'col.created'].map((k) => h('th', {}, t(k))))),
              h('tbody', {}, pods.length ? pods.map((p) => {
                  const c = p.ContainerInfos?.[0]?.Status || {};
                  return h('tr', {},
                      h('td', {}, p.Name), h('td', {}, statusText(p.Status), c.Reason && h('div', {class: 'sub'}, c.Reason)),
                      h('td', {}, p.IP || ''), h('td', {}, c.Ready ? '✓' : '—'), h('td', {}, String(c.RestartCount ?? 0)),
                      h('td', {}, p.ResourceInfo?.Cpu != null ? `${p.ResourceInfo.Cpu}m` : ''),
                      h('td', {}, p.ResourceInfo?.Memory != null ? `${p.ResourceInfo.Memory} MB` : ''),
                      h('td', {}, fmtTime(p.CreateTime)));
              }) : h('tr', {}, h('td', {colspan: 8, class: 'empty'}, t('service.noPods'))))));
    }

    // Events: the newest 100 of the last day, all or warnings only, every 5 s.
    function events(svc) {
        const type = h('select', {'data-testid': 'event-type'},
            h('option', {value: ''}, t('events.all')), h('option', {value: 'Warning'}, t('events.warnings')));
        const body = h('tbody', {});
        const load = async () => {
            const p = {Service: 'INFER', ServiceId: svc.ServiceId, Limit: 100, Order: 'DESC',
                       OrderField: 'LastTimestamp'};
            if (type.value)
                p.Filters = [{Name: 'Type', Values: [type.value]}];
            try {
                const r = await call('DescribeEvents', p);
                clear(body, r.Events.length ? r.Events.map((e) => h('tr', {class: e.Type === 'Warning' ? 'warn' : ''},
                    h('td', {}, fmtTime(e.LastTimestamp)), h('td', {}, e.Type),
                    h('td', {}, `${e.ResourceKind}/${e.ResourceName}`), h('td', {}, e.Message),
                    h('td', {}, String(e.Count))))
                    : h('tr', {}, h('td', {colspan: 5, class: 'empty'}, t('service.noEvents'))));
            } catch (err) {
                ctx.fail(err);
            }
        };
        type.addEventListener('change', load);
        clear(panel, h('div', {class: 'filters'}, type),
            h('table', {class: 'list', 'data-testid': 'events'},
              h('thead', {}, h('tr', {}, ['col.time', 'col.type', 'col.object', 'col.message', 'col.count']
                                              .map((k) => h('th', {}, t(k))))), body));
        load();
        const timer = setInterval(load, 5000);
        return () => clearInterval(timer);
    }

    // Logs: the newest lines, a keyword, and follow (the lines after the
    // newest one shown, every 2 s).
    function logs(svc) {
        const key = h('input', {placeholder: t('logs.keyword'), 'data-testid': 'log-keyword'});
        const pod = h('select', {'data-testid': 'log-pod'}, h('option', {value: ''}, t('logs.allPods')),
            (svc.ServiceInfo?.PodInfos || []).map((p) => h('option', {value: p.Name}, p.Name)));
        const follow = h('input', {type: 'checkbox', 'data-testid': 'log-follow'});
        const pre = h('pre', {class: 'logs', 'data-testid': 'logs'});
        let newest = null;
        let maxId = 0;
        let timer = null;
        const filters = () => (key.value.trim() ? [{Name: 'Key', Values: [key.value.trim()]}] : []);
        const query = (more) => ({Service: 'INFER', ServiceId: svc.ServiceId, Limit: 200, Filters: filters(),
                                  ...(pod.value ? {PodName: pod.value} : {}), ...more});
        const line = (l) => `${l.PodName}  ${l.Message}\n`;
        const add = (lines) => {
            for (const l of lines) {
                if (Number(l.Id) <= maxId)
                    continue;
                maxId = Number(l.Id);
                newest = l.Timestamp;
                pre.append(line(l));
            }
            pre.scrollTop = pre.scrollHeight;
        };
        const first = async () => {
            clear(pre);
            maxId = 0;
            newest = null;
            try {
                const r = await call('DescribeLogs', query({Order: 'DESC'}));
                add(r.Content.slice().reverse());
                if (!r.Content.length)
                    pre.textContent = '';
            } catch (err) {
                ctx.fail(err);
            }
        };
        const more = async () => {
            if (!newest)
                return first();
            try {
                const r = await call('DescribeLogs', query({Order: 'ASC', StartTime: newest}));
                add(r.Content);
            } catch (err) {
                ctx.fail(err);
            }
        };
        key.addEventListener('keydown', (e) => { if (e.key === 'Enter') first(); });
        pod.addEventListener('change', first);
        follow.addEventListener('change', () => {
            clearInterval(timer);
            timer = follow.checked ? setInterval(more, 2000) : null;
        });
        clear(panel, h('div', {class: 'filters'}, pod, key,
                       h('button', {onclick: first, 'data-testid': 'log-search'}, t('list.search')),
                       h('label', {class: 'check'}, follow, t('logs.follow'))), pre);
        first();
        return () => clearInterval(timer);
    }

    async function callInfo() {
        let r;
        try {
            r = await call('DescribeModelServiceCallInfo', {ServiceGroupId: groupId});
        } catch (err) {
            return ctx.fail(err);
        }
        const v2 = r.ServiceCallInfoV2 || {};
        const addr = v2.InternetEndpoint || r.ServiceCallInfo?.OuterHttpAddr || '';
        const tokens = v2.AuthTokens || [];
        const token = tokens[0]?.Base?.Value || v2.AuthToken || '';
        const svc = (group.Services || []).find((s) => s.ServiceId === chosen);
        const xgb = svc?.ServiceInfo?.ModelInfo;
        const path = xgb ? '/v1/models/m:predict' : '/';
        const body = xgb ? '{"instances": [[1.0, 0.5, -0.2, 0.1]]}' : '{}';
        const curl = `curl -s ${v2.AuthorizationEnable ? `-H 'Authorization: Bearer ${token || 'TOKEN'}' ` : ''}` +
                     `-H 'Content-Type: application/json' -d '${body}' ${addr}${path}`;
        const copy = h('button', {'data-testid': 'copy-curl', onclick: async () => {
            try {
                await navigator.clipboard.writeText(curl);
                copy.textContent = t('call.copied');
            } catch {
                copy.textContent = t('call.copyFailed');
            }
        }}, t('call.copy'));
        const authBox = h('input', {type: 'checkbox', checked: v2.AuthorizationEnable, 'data-testid': 'auth-toggle',
                                    onchange: async () => {
            try {
                await call('ModifyModelServiceAuthorization', {ServiceGroupId: groupId,
                                                               AuthorizationEnable: authBox.checked});
            } catch (err) {
                ctx.fail(err);
            }
            callInfo();
        }});
        clear(panel,
            h('dl', {class: 'facts'},
              h('dt', {}, t('call.address')), h('dd', {'data-testid': 'call-address'}, addr),
              h('dt', {}, t('call.auth')), h('dd', {}, h('label', {class: 'check'}, authBox, t('call.authOn')))),
            h('h3', {}, t('call.tokens')),
            h('table', {class: 'list', 'data-testid': 'tokens'},
              h('thead', {}, h('tr', {}, ['col.name', 'col.token', 'col.limits', 'col.created', 'col.actions']
                                              .map((k) => h('th', {}, t(k))))),
              h('tbody', {}, tokens.map((tk) => h('tr', {'data-token': tk.Base?.Name || ''},
                  h('td', {}, tk.Base?.Name || ''), h('td', {class: 'mono', 'data-testid': 'token-value'}, tk.Base?.Value || ''),
                  h('td', {}, (tk.Limits || []).map((l) => `${l.Max} / ${t('limit.' + l.Strategy)}`).join(', ') || '—'),
                  h('td', {}, fmtTime(tk.Base?.CreateTime)),
                  h('td', {}, h('button', {class: 'link', 'data-testid': 'token-reset', onclick: () => confirmRun(
                      t('confirm.resetToken'), t('action.reset'), t('action.cancel'),
                      // the token as read, with NeedReset: a new value, the old one stops working
                      () => call('ModifyModelServiceAuthToken', {ServiceGroupId: groupId, NeedReset: true, AuthToken: tk}),
                      ctx.fail, callInfo)}, t('action.reset')),
                  h('button', {class: 'link danger', onclick: () => confirmRun(
                      t('confirm.deleteToken'), t('action.delete'), t('action.cancel'),
                      () => call('DeleteModelServiceAuthToken', {ServiceGroupId: groupId, AuthTokenValue: tk.Base?.Value}),
                      ctx.fail, callInfo)}, t('action.delete'))))))),
            h('div', {class: 'buttons'}, h('button', {'data-testid': 'new-token', onclick: async () => {
                try {
                    await call('CreateModelServiceAuthToken', {ServiceGroupId: groupId, Name: `console-${Date.now() % 100000}`});
                } catch (err) {
                    ctx.fail(err);
                }
                callInfo();
            }}, t('call.newToken'))),
            h('h3', {}, 'curl'),
            h('pre', {class: 'mono curl', 'data-testid': 'curl'}, curl), copy);
    }

    await load();
    timers.push(setInterval(load, 3000));
}
