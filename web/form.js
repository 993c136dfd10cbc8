// form.js - 新建服务: the seed's form in its three parts (basic
// information, instance container, advanced settings). Each input maps to
// one CreateModelService field; the form checks nothing the API does not:
// it sends the request and shows the API's message next to the field the
// message names.
import {call, session} from './api.js';
import {h, clear} from './dom.js';
import {t} from './i18n.js';

const HPA_METRICS = ['cpu-util', 'memory-util', 'service-qps', 'concurrency-util', 'gpu-util'];

// The inputs by the field path they fill ("Resources.Cpu", "Env[1].Name"),
// and where each one's message goes.
class Fields {
    constructor() { this.map = new Map(); }
    add(path, el) {
        const err = h('div', {class: 'field-error', 'data-error-for': path});
        this.map.set(path, err);
        el.setAttribute('data-field', path);
        return err;
    }
    clear() {
        for (const e of this.map.values())
            e.textContent = '';
    }
    // The longest registered path the message names, trying each name in it
    // and then its parents ("CronScaleJobs[0].Schedule", "CronScaleJobs[0]").
    place(message) {
        const names = message.match(/[A-Z][A-Za-z]*(\[\d+\])?(\.[A-Z*][A-Za-z]*(\[\d+\])?)*/g) || [];
        let best = null;
        for (let n of names) {
            for (;;) {
                // a field of a part not shown now (another source) is not a place
                if (this.map.get(n)?.isConnected && (!best || n.length > best.length))
                    best = n;
                const cut = Math.max(n.lastIndexOf('.'), n.lastIndexOf('['));
                if (cut <= 0)
                    break;
                n = n.slice(0, cut);
            }
        }
        if (!best && /^region /.test(message)) // X-TC-Region's refusal names no field
            best = 'Region';
        if (!best)
            return null;
        const slot = this.map.get(best);
        slot.textContent = message;
        return slot;
    }
}

function field(fields, path, label, input, hint) {
    const err = fields.add(path, input);
    return h('div', {class: 'field'},
        h('label', {}, h('span', {class: 'label'}, label), input),
        hint && h('div', {class: 'hint'}, hint), err);
}

function num(v) {
    const s = String(v ?? '').trim();
    return s === '' ? undefined : Number(s);
}

function text(v) {
    const s = String(v ?? '').trim();
    return s === '' ? undefined : s;
}

// A list of rows (Env, Tags, HpaMetrics, CronScaleJobs): each row's inputs
// register under "Name[i].Field"; rebuilt whole when a row goes.
function rowList(fields, path, columns, addLabel) {
    const rows = [];
    const box = h('div', {class: 'rows', 'data-rows': path});
    const redraw = () => {
        for (const k of [...fields.map.keys()])
            if (k.startsWith(path + '['))
                fields.map.delete(k);
        clear(box, rows.map((r, i) => h('div', {class: 'row'},
            columns.map((c) => {
                const el = r[c.name];
                const err = fields.add(`${path}[${i}].${c.name}`, el);
                return h('label', {class: 'cell'}, h('span', {class: 'label'}, c.label), el, err);
            }),
            h('button', {type: 'button', class: 'link danger', onclick: () => {
                rows.splice(i, 1);
                redraw();
            }}, t('action.remove')))),
            h('button', {type: 'button', class: 'link', 'data-testid': `add-${path}`, onclick: () => {
                const r = {};
                for (const c of columns)
                    r[c.name] = c.make();
                rows.push(r);
                redraw();
            }}, addLabel));
    };
    redraw();
    return {el: box, rows,
        // rows from stored values (the edit page), each column's 'show' or the value as text
        set(list) {
            rows.splice(0);
            for (const item of list || []) {
                const r = {};
                for (const c of columns) {
                    r[c.name] = c.make();
                    const v = c.show ? c.show(item[c.name]) : item[c.name];
                    r[c.name].value = v ?? '';
                }
                rows.push(r);
            }
            redraw();
        },
        values: () => rows.map((r) => {
        const o = {};
        for (const c of columns) {
            const v = c.read ? c.read(r[c.name]) : text(r[c.name].value);
            if (v !== undefined)
                o[c.name] = v;
        }
        return o;
    })};
}

const input = (attrs) => () => h('input', attrs || {});

function radios(name, options, value, onchange) {
    return h('div', {class: 'radios', 'data-testid': name},
        options.map(([v, label]) => h('label', {class: 'radio'},
            h('input', {type: 'radio', name, value: v, checked: v === value,
                        onchange: () => onchange(v)}), label)));
}

function section(title, ...children) {
    return h('fieldset', {class: 'card'}, h('legend', {}, title), ...children);
}

// RFC 3339 with the browser's offset, from a datetime-local value.
function localToRfc3339(v) {
    if (!v)
        return undefined;
    const d = new Date(v);
    if (isNaN(d))
        return v;
    const off = -d.getTimezoneOffset();
    const p = (n) => String(Math.floor(Math.abs(n))).padStart(2, '0');
    return `${v.length === 16 ? v + ':00' : v}${off >= 0 ? '+' : '-'}${p(off / 60)}:${p(off % 60)}`;
}

// One probe of HealthProbe: off, or HTTPGet (path) / TCPSocket on the
// instance's own port, with its timings.
function probeBlock(fields, name, label) {
    const on = h('input', {type: 'checkbox', 'data-testid': `probe-${name}`});
    const type = h('select', {'data-testid': `probe-${name}-type`},
        h('option', {value: 'HTTPGet'}, 'HTTP GET'), h('option', {value: 'TCPSocket'}, 'TCP'));
    const path = h('input', {placeholder: '/healthz', 'data-testid': `probe-${name}-path`});
    const nums = ['InitialDelaySeconds', 'PeriodSeconds', 'TimeoutSeconds', 'FailureThreshold', 'SuccessThreshold']
        .map((k) => [k, h('input', {type: 'number', 'data-testid': `probe-${name}-${k}`})]);
    const at = `HealthProbe.${name}`;
    const box = h('div', {class: 'nested', hidden: true},
        field(fields, `${at}.ProbeAction`, t('form.probeType'), type),
        field(fields, `${at}.ProbeAction.HTTPGet.Path`, t('form.probePath'), path),
        h('div', {class: 'inline'}, nums.map(([k, e]) => field(fields, `${at}.${k}`, t(`form.probe.${k}`), e))));
    on.addEventListener('change', () => { box.hidden = !on.checked; });
    type.addEventListener('change', () => { path.disabled = type.value !== 'HTTPGet'; });
    return {
        el: [field(fields, at, label, h('span', {class: 'check'}, on, t('form.probeOn'))), box],
        set(probe) {
            on.checked = !!probe;
            box.hidden = !probe;
            if (!probe)
                return;
            type.value = probe.ProbeAction?.ActionType || 'HTTPGet';
            path.value = probe.ProbeAction?.HTTPGet?.Path ?? '';
            path.disabled = type.value !== 'HTTPGet';
            for (const [k, e] of nums)
                e.value = probe[k] ?? '';
        },
        value() {
            if (!on.checked)
                return undefined;
            const o = {ProbeAction: {ActionType: type.value}};
            if (type.value === 'HTTPGet' && text(path.value))
                o.ProbeAction.HTTPGet = {Path: text(path.value)};
            for (const [k, e] of nums)
                o[k] = num(e.value);
            return o;
        },
    };
}

// PreStopCommand is an exec-form list: a JSON array as written, else the
// words split at spaces.
function commandList(v) {
    const s = String(v ?? '').trim();
    if (!s)
        return undefined;
    if (s.startsWith('[')) {
        try {
            return JSON.parse(s);
        } catch {
            return s; // the API says what is wrong with it
        }
    }
    return s.split(/\s+/);
}

// A datetime-local value (the browser's zone) from RFC 3339.
function rfc3339ToLocal(v) {
    const d = new Date(v || '');
    if (isNaN(d))
        return '';
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// On the edit page a field left as it was is not sent (ModifyModelService
// keeps what it is not given); one turned off is sent as off.
const OFF = {
    LogEnable: false, ModelHotUpdateEnable: false, Env: [], PreStopCommand: [], HealthProbe: {},
    ServiceLimit: {EnableInstanceRpsLimit: false, EnableInstanceReqLimit: false},
    ScheduledAction: {ScheduleStop: false},
};

export async function formPage(el, ctx, {groupId, serviceId, model: preset}) {
    const fields = new Fields();
    const s = session.get();
    const state = {charge: 'POSTPAID_BY_HOUR', source: 'model', scale: 'MANUAL', strategy: 'HPA'};
    let group = null;
    let editing = null; // the Service whose version this page changes
    if (groupId) {
        try {
            group = (await call('DescribeModelServiceGroup', {ServiceGroupId: groupId})).ServiceGroup;
            if (serviceId)
                editing = (await call('DescribeModelService', {ServiceId: serviceId})).Service;
        } catch (err) {
            return ctx.fail(err);
        }
        state.charge = (editing || group.Services?.[0])?.ChargeType || state.charge;
    }

    // -- basic information
    const name = h('input', {name: 'ServiceGroupName', value: group?.ServiceGroupName ?? '',
                             disabled: !!group, 'data-testid': 'ServiceGroupName'});
    const version = h('input', {value: editing ? `v${editing.Version}` : group ? `v${Number(group.LatestVersion || 0) + 1}` : 'v1',
                                disabled: true, 'data-testid': 'version'});
    const desc = h('textarea', {name: 'ServiceDescription', rows: 2, 'data-testid': 'ServiceDescription'});
    const region = h('input', {name: 'Region', value: s.region, disabled: !!editing, 'data-testid': 'Region'});
    const resGroup = h('select', {name: 'ResourceGroupId', 'data-testid': 'ResourceGroupId'},
                       h('option', {value: ''}, '—'));
    const prepaidReplicas = h('input', {type: 'number', min: 0, 'data-testid': 'HybridBillingPrepaidReplicas'});
    const chargeBox = h('div', {});
    const chargeExtra = h('div', {});

    // -- instance container
    const model = h('select', {'data-testid': 'model'}, h('option', {value: ''}, t('form.pickModel')));
    const modelVersion = h('select', {name: 'ModelVersionId', 'data-testid': 'ModelVersionId'},
                           h('option', {value: ''}, '—'));
    const runtime = h('div', {class: 'hint', 'data-testid': 'runtime'});
    const modelImage = h('input', {placeholder: t('form.runtimeBuiltin'), 'data-testid': 'ModelImageUrl'});
    const imageUrl = h('input', {name: 'ImageUrl', placeholder: 'registry.example/team/server:1.0',
                                 'data-testid': 'ImageUrl'});
    const command = h('textarea', {name: 'Command', rows: 2, 'data-testid': 'Command'});
    const port = h('input', {type: 'number', name: 'ServicePort', placeholder: '8501', 'data-testid': 'ServicePort'});
    const sourceBox = h('div', {});
    const mount = h('input', {type: 'checkbox', 'data-testid': 'mount'});
    const cfsId = h('input', {'data-testid': 'CFSConfig.Id'});
    const cfsPath = h('input', {placeholder: '/', 'data-testid': 'CFSConfig.Path'});
    const mountPath = h('input', {placeholder: '/mnt/data', 'data-testid': 'MountPath'});
    const mountBox = h('div', {class: 'nested', hidden: true},
        field(fields, 'VolumeMount.CFSConfig.Id', t('form.cfsId'), cfsId),
        field(fields, 'VolumeMount.CFSConfig.Path', t('form.cfsPath'), cfsPath),
        field(fields, 'VolumeMount.MountPath', t('form.mountPath'), mountPath));
    mount.addEventListener('change', () => { mountBox.hidden = !mount.checked; checkHot(); });
    const hot = h('input', {type: 'checkbox', 'data-testid': 'ModelHotUpdateEnable'});
    const hotWhy = h('div', {class: 'hint', 'data-testid': 'hot-why'});
    const spec = h('select', {name: 'InstanceType', 'data-testid': 'InstanceType'});
    const cpu = h('input', {type: 'number', placeholder: '1000', 'data-testid': 'Resources.Cpu'});
    const mem = h('input', {type: 'number', placeholder: '2048', 'data-testid': 'Resources.Memory'});
    const gpu = h('input', {type: 'number', placeholder: '0', 'data-testid': 'Resources.Gpu'});
    const specBox = h('div', {});
    const env = rowList(fields, 'Env', [
        {name: 'Name', label: t('form.envName'), make: input({'data-testid': 'env-name'})},
        {name: 'Value', label: t('form.envValue'), make: input({'data-testid': 'env-value'}),
         read: (e) => e.value},
    ], t('form.addEnv'));

    // -- advanced settings
    const replicas = h('input', {type: 'number', min: 0, value: 1, 'data-testid': 'Replicas'});
    const hpaMin = h('input', {type: 'number', value: 1, 'data-testid': 'MinReplicas'});
    const hpaMax = h('input', {type: 'number', value: 2, 'data-testid': 'MaxReplicas'});
    const upWindow = h('input', {type: 'number', placeholder: '0', 'data-testid': 'ScaleUpStabilizationWindowSeconds'});
    const downWindow = h('input', {type: 'number', placeholder: '300', 'data-testid': 'ScaleDownStabilizationWindowSeconds'});
    const metrics = rowList(fields, 'HorizontalPodAutoscaler.HpaMetrics', [
        {name: 'Name', label: t('form.metric'),
         make: () => h('select', {}, HPA_METRICS.map((m) => h('option', {value: m}, m)))},
        {name: 'Value', label: t('form.target'), make: input({type: 'number', value: 60}),
         read: (e) => num(e.value)},
    ], t('form.addMetric'));
    const cron = rowList(fields, 'CronScaleJobs', [
        {name: 'Name', label: t('form.cronName'), make: input()},
        {name: 'Schedule', label: t('form.cronSchedule'), make: input({placeholder: '0 0 9 * * *'})},
        {name: 'TargetReplicas', label: t('form.cronTarget'), make: input({type: 'number'}),
         read: (e) => num(e.value)},
        {name: 'MinReplicas', label: t('form.min'), make: input({type: 'number'}), read: (e) => num(e.value)},
        {name: 'MaxReplicas', label: t('form.max'), make: input({type: 'number'}), read: (e) => num(e.value)},
        {name: 'ExcludeDates', label: t('form.cronExclude'), make: input({placeholder: '2026-12-25'}),
         read: (e) => (e.value.trim() ? e.value.split(/[\s,]+/).filter(Boolean) : undefined),
         show: (v) => (v || []).join(', ')},
    ], t('form.addCron'));
    const scaleBox = h('div', {});
    const auth = h('input', {type: 'checkbox', 'data-testid': 'AuthorizationEnable'});
    const logOn = h('input', {type: 'checkbox', 'data-testid': 'LogEnable'});
    const logset = h('input', {'data-testid': 'LogsetId'});
    const topic = h('input', {'data-testid': 'TopicId'});
    const logBox = h('div', {class: 'nested', hidden: true},
        field(fields, 'LogConfig.LogsetId', t('form.logset'), logset),
        field(fields, 'LogConfig.TopicId', t('form.topic'), topic, t('form.topicHint')));
    logOn.addEventListener('change', () => { logBox.hidden = !logOn.checked; });
    const rpsOn = h('input', {type: 'checkbox', 'data-testid': 'EnableInstanceRpsLimit'});
    const rps = h('input', {type: 'number', 'data-testid': 'InstanceRpsLimit'});
    const reqOn = h('input', {type: 'checkbox', 'data-testid': 'EnableInstanceReqLimit'});
    const req = h('input', {type: 'number', 'data-testid': 'InstanceReqLimit'});
    const stopOn = h('input', {type: 'checkbox', 'data-testid': 'ScheduleStop'});
    const stopAt = h('input', {type: 'datetime-local', 'data-testid': 'ScheduleStopTime'});
    const grace = h('input', {type: 'number', placeholder: '30', 'data-testid': 'TerminationGracePeriodSeconds'});
    const timeout = h('input', {type: 'number', placeholder: '60', 'data-testid': 'RequestTimeoutSeconds'});
    const preStop = h('input', {placeholder: 'sleep 10', 'data-testid': 'PreStopCommand'});
    const probes = [['ReadinessProbe', t('form.readiness')], ['LivenessProbe', t('form.liveness')],
                    ['StartupProbe', t('form.startup')]].map(([n, l]) => [n, probeBlock(fields, n, l)]);
    const tags = rowList(fields, 'Tags', [
        {name: 'TagKey', label: t('form.tagKey'), make: input({'data-testid': 'tag-key'})},
        {name: 'TagValue', label: t('form.tagValue'), make: input({'data-testid': 'tag-value'}),
         read: (e) => e.value},
    ], t('form.addTag'));

    const drawCharge = () => {
        const prepaid = state.charge !== 'POSTPAID_BY_HOUR';
        clear(chargeExtra,
            prepaid && !group && field(fields, 'ResourceGroupId', t('form.resourceGroup'), resGroup),
            state.charge === 'HYBRID_PAID' && !editing &&
                field(fields, 'HybridBillingPrepaidReplicas', t('form.prepaidReplicas'), prepaidReplicas));
        clear(specBox, prepaid
            ? [field(fields, 'Resources.Cpu', t('form.cpu'), cpu, t('form.cpuHint')),
               field(fields, 'Resources.Memory', t('form.memory'), mem, t('form.memoryHint')),
               field(fields, 'Resources.Gpu', t('form.gpu'), gpu)]
            : field(fields, 'InstanceType', t('form.spec'), spec));
    };
    const drawSource = () => {
        clear(sourceBox,
            state.source === 'model' && [
                field(fields, 'ModelInfo', t('form.model'), model),
                field(fields, 'ModelInfo.ModelVersionId', t('form.modelVersion'), modelVersion),
                runtime,
                field(fields, 'ImageInfo', t('form.runtimeImage'), modelImage, t('form.runtimeImageHint')),
                field(fields, 'ModelHotUpdateEnable', t('form.hotUpdate'),
                      h('span', {class: 'check'}, hot, t('form.hotUpdateHint'))), hotWhy],
            state.source === 'image' && [
                field(fields, 'ImageInfo.ImageUrl', t('form.image'), imageUrl),
                field(fields, 'Command', t('form.command'), command, t('form.commandHint')),
                field(fields, 'ServicePort', t('form.port'), port)],
            state.source === 'command' && [
                field(fields, 'Command', t('form.command'), command, t('form.commandOnlyHint')),
                field(fields, 'ServicePort', t('form.port'), port)]);
    };
    const drawScale = () => {
        clear(scaleBox,
            radios('ScaleMode', [['MANUAL', t('form.manual')], ['AUTO', t('form.auto')]], state.scale,
                   (v) => { state.scale = v; drawScale(); }),
            state.scale === 'MANUAL' && field(fields, 'Replicas', t('form.replicas'), replicas),
            state.scale === 'AUTO' && [
                radios('ScaleStrategy', [['HPA', t('form.hpa')], ['CRON', t('form.cron')]],
                       state.strategy, (v) => { state.strategy = v; drawScale(); }),
                state.strategy === 'HPA' && h('div', {class: 'nested'},
                    field(fields, 'HorizontalPodAutoscaler.MinReplicas', t('form.min'), hpaMin),
                    field(fields, 'HorizontalPodAutoscaler.MaxReplicas', t('form.max'), hpaMax),
                    field(fields, 'HorizontalPodAutoscaler.ScaleUpStabilizationWindowSeconds', t('form.upWindow'), upWindow),
                    field(fields, 'HorizontalPodAutoscaler.ScaleDownStabilizationWindowSeconds', t('form.downWindow'), downWindow),
                    h('div', {class: 'label'}, t('form.metrics')), metrics.el,
                    fields.add('HorizontalPodAutoscaler', metrics.el)),
                state.strategy === 'CRON' && h('div', {class: 'nested'},
                    field(fields, 'Replicas', t('form.cronDefault'), replicas),
                    h('div', {class: 'label'}, t('form.cronJobs')), cron.el,
                    fields.add('CronScaleJobs', cron.el))]);
    };

    const errorBox = h('div', {class: 'error', 'data-testid': 'form-error'});
    const submit = h('button', {type: 'submit', class: 'primary', 'data-testid': 'submit'},
                     editing ? t('form.update') : t('form.submit'));
    const form = h('form', {class: 'service-form', novalidate: true, onsubmit: async (e) => {
        e.preventDefault();
        fields.clear();
        errorBox.textContent = '';
        const params = editing ? changes() : collect();
        if (editing && Object.keys(params).length === 1) {
            errorBox.textContent = t('form.nothing');
            return;
        }
        submit.disabled = true;
        try {
            if (editing) {
                await call('ModifyModelService', params);
                location.hash = `#/services/${group.ServiceGroupId}`;
            } else {
                const r = await call('CreateModelService', params, text(region.value));
                location.hash = `#/services/${r.Service.ServiceGroupId}`;
            }
        } catch (err) {
            const slot = fields.place(err.message);
            const msg = `${err.code}: ${err.message}`;
            if (slot) {
                slot.scrollIntoView({block: 'center'});
                errorBox.textContent = t('form.fix');
            } else {
                errorBox.textContent = msg;
            }
        } finally {
            submit.disabled = false;
        }
    }},
        h('div', {class: 'title'}, h('h1', {}, editing ? t('form.edit', group.ServiceGroupName, editing.Version)
                                             : group ? t('form.newVersion', group.ServiceGroupName)
                                             : t('form.title'))),
        editing && h('p', {class: 'hint'}, t('form.editHint')),
        section(t('form.basic'),
            field(fields, 'ServiceGroupName', t('field.name'), name, t('form.nameHint')),
            field(fields, 'Version', t('field.version'), version, t('form.versionHint')),
            field(fields, 'ServiceDescription', t('field.description'), desc),
            field(fields, 'Region', t('field.region'), region),
            !group && field(fields, 'ChargeType', t('field.charge'), chargeBox),
            chargeExtra),
        section(t('form.container'),
            radios('source', [['model', t('form.fromModel')], ['image', t('form.fromImage')],
                              ['command', t('form.fromCommand')]], state.source,
                   (v) => { state.source = v; drawSource(); }),
            sourceBox,
            field(fields, 'VolumeMount', t('form.mount'), h('span', {class: 'check'}, mount, t('form.mountHint'))),
            mountBox,
            specBox,
            h('div', {class: 'label'}, t('form.env')), env.el),
        section(t('form.advanced'),
            h('div', {class: 'label'}, t('form.scaling')), scaleBox,
            // the group's switch: for a new group only (the call page turns it on and off)
            !group && field(fields, 'AuthorizationEnable', t('form.auth'), h('span', {class: 'check'}, auth, t('form.authHint'))),
            field(fields, 'LogEnable', t('form.log'), h('span', {class: 'check'}, logOn, t('form.logHint'))),
            logBox,
            field(fields, 'ServiceLimit.InstanceRpsLimit', t('form.rps'),
                  h('span', {class: 'check'}, rpsOn, rps), t('form.rpsHint')),
            field(fields, 'ServiceLimit.InstanceReqLimit', t('form.reqLimit'),
                  h('span', {class: 'check'}, reqOn, req), t('form.reqLimitHint')),
            field(fields, 'ScheduledAction.ScheduleStopTime', t('form.scheduleStop'),
                  h('span', {class: 'check'}, stopOn, stopAt)),
            h('div', {class: 'label'}, t('form.probes')),
            probes.map(([, b]) => b.el),
            field(fields, 'TerminationGracePeriodSeconds', t('form.grace'), grace),
            field(fields, 'PreStopCommand', t('form.preStop'), preStop, t('form.preStopHint')),
            field(fields, 'RequestTimeoutSeconds', t('form.timeout'), timeout),
            !group && [h('div', {class: 'label'}, t('form.tags')), tags.el, fields.add('Tags', tags.el)]),
        errorBox,
        h('div', {class: 'buttons'}, submit,
          h('a', {href: group ? `#/services/${group.ServiceGroupId}` : '#/services', class: 'button'},
            t('action.cancel'))));
    fields.add('ScheduledAction', stopAt);
    fields.add('ServiceLimit', rps);

    clear(chargeBox, radios('ChargeType', [['POSTPAID_BY_HOUR', t('charge.POSTPAID_BY_HOUR')],
                                           ['PREPAID', t('charge.PREPAID')],
                                           ['HYBRID_PAID', t('charge.HYBRID_PAID')]], state.charge,
                                (v) => { state.charge = v; drawCharge(); }));
    drawCharge();
    drawSource();
    drawScale();
    clear(el, form);

    // The edit page's request: ServiceId and the top-level fields that differ
    // from what the page was filled with.
    let initial = null;
    function changes() {
        const now = collect();
        const p = {ServiceId: editing.ServiceId};
        for (const k of new Set([...Object.keys(initial), ...Object.keys(now)])) {
            if (JSON.stringify(initial[k]) === JSON.stringify(now[k]))
                continue;
            if (k in now)
                p[k] = now[k];
            else if (k in OFF)
                p[k] = OFF[k];
        }
        return p;
    }

    function collect() {
        const p = {};
        if (editing) {
            // what a version may change; the group's fields stay the group's
        } else if (group) {
            p.ServiceGroupId = group.ServiceGroupId;
            p.NewVersion = true;
        } else {
            p.ServiceGroupName = text(name.value);
            p.ChargeType = state.charge;
        }
        p.ServiceDescription = text(desc.value);
        if (state.charge !== 'POSTPAID_BY_HOUR') {
            if (!group)
                p.ResourceGroupId = text(resGroup.value);
            p.Resources = {Cpu: num(cpu.value), Memory: num(mem.value), Gpu: num(gpu.value)};
            if (state.charge === 'HYBRID_PAID' && !editing)
                p.HybridBillingPrepaidReplicas = num(prepaidReplicas.value);
        } else {
            p.InstanceType = text(spec.value);
        }
        if (state.source === 'model') {
            p.ModelInfo = {ModelVersionId: text(modelVersion.value)};
            if (text(modelImage.value))
                p.ImageInfo = {ImageType: 'CUSTOM', ImageUrl: text(modelImage.value)};
            p.ModelHotUpdateEnable = hot.checked || undefined;
        } else if (state.source === 'image') {
            p.ImageInfo = {ImageType: 'CUSTOM', ImageUrl: text(imageUrl.value)};
            p.Command = text(command.value);
            p.ServicePort = num(port.value);
        } else {
            p.Command = text(command.value);
            p.ServicePort = num(port.value);
        }
        if (mount.checked)
            p.VolumeMount = {VolumeSourceType: 'CFS', MountPath: text(mountPath.value),
                             CFSConfig: {Id: text(cfsId.value), Path: text(cfsPath.value)}};
        const e = env.values();
        if (e.length)
            p.Env = e;
        p.ScaleMode = state.scale;
        if (state.scale === 'MANUAL') {
            p.Replicas = num(replicas.value);
        } else if (state.strategy === 'HPA') {
            p.ScaleStrategy = 'HPA';
            p.HorizontalPodAutoscaler = {MinReplicas: num(hpaMin.value), MaxReplicas: num(hpaMax.value),
                                         ScaleUpStabilizationWindowSeconds: num(upWindow.value),
                                         ScaleDownStabilizationWindowSeconds: num(downWindow.value),
                                         HpaMetrics: metrics.values()};
        } else {
            p.ScaleStrategy = 'CRON';
            p.Replicas = num(replicas.value);
            p.CronScaleJobs = cron.values();
        }
        if (auth.checked && !group)
            p.AuthorizationEnable = true;
        if (logOn.checked) {
            p.LogEnable = true;
            p.LogConfig = {LogsetId: text(logset.value), TopicId: text(topic.value)};
        }
        if (rpsOn.checked || reqOn.checked)
            p.ServiceLimit = {EnableInstanceRpsLimit: rpsOn.checked, InstanceRpsLimit: num(rps.value),
                              EnableInstanceReqLimit: reqOn.checked, InstanceReqLimit: num(req.value)};
        if (stopOn.checked)
            p.ScheduledAction = {ScheduleStop: true, ScheduleStopTime: localToRfc3339(stopAt.value)};
        const hp = {};
        for (const [n, b] of probes)
            if (b.value())
                hp[n] = b.value();
        if (Object.keys(hp).length)
            p.HealthProbe = hp;
        p.PreStopCommand = commandList(preStop.value);
        p.TerminationGracePeriodSeconds = num(grace.value);
        p.RequestTimeoutSeconds = num(timeout.value);
        const tg = tags.values();
        if (tg.length && !group)
            p.Tags = tg;
        return JSON.parse(JSON.stringify(p)); // drops the undefined ones
    }

    // The catalogues the selects offer, read from the API.
    try {
        const [specs, models, groups] = await Promise.all([
            call('DescribeBillingSpecs', {ChargeType: 'POSTPAID_BY_HOUR'}),
            call('DescribeTrainingModels', {Limit: 100}),
            call('DescribeBillingResourceGroups', {Limit: 100}).catch(() => ({ResourceGroupSet: []})),
        ]);
        clear(spec, specs.Specs.filter((x) => x.Available).map((x) =>
            h('option', {value: x.SpecName}, `${x.SpecName} (${x.SpecAlias})`)));
        clear(resGroup, h('option', {value: ''}, '—'), (groups.ResourceGroupSet || []).map((g) =>
            h('option', {value: g.ResourceGroupId}, `${g.ResourceGroupName || ''} ${g.ResourceGroupId}`)));
        for (const m of models.TrainingModels || [])
            model.append(h('option', {value: m.TrainingModelId}, m.TrainingModelName));
    } catch (err) {
        ctx.fail(err);
    }
    // The chosen model's versions; 'pick' (a version id) or the newest chosen.
    async function loadVersions(pick) {
        clear(modelVersion, h('option', {value: ''}, '—'));
        runtime.textContent = '';
        if (!model.value)
            return;
        try {
            const r = await call('DescribeTrainingModelVersions', {TrainingModelId: model.value});
            const vs = r.TrainingModelVersions || [];
            for (const v of vs)
                modelVersion.append(h('option', {value: v.TrainingModelVersionId},
                    `${v.TrainingModelVersion} · ${v.TrainingModelFormat || ''} · ${v.TrainingModelStatus || ''}`));
            if (vs.length)
                modelVersion.value = pick || vs[vs.length - 1].TrainingModelVersionId;
            modelVersion.dispatchEvent(new Event('change'));
        } catch (err) {
            ctx.fail(err);
        }
    }
    model.addEventListener('change', () => loadVersions());
    modelImage.addEventListener('change', () => checkHot());

    // Whether hot update can be on for this model, runtime and mount, as the
    // API says (DescribeModelServiceHotUpdated): off and why when it cannot.
    // An error (a half-typed mount) leaves the switch as it is: the create's
    // answer says what is wrong.
    async function checkHot() {
        if (state.source !== 'model' || !modelVersion.value)
            return;
        const p = {ModelInfo: {ModelVersionId: modelVersion.value},
                   ImageInfo: text(modelImage.value) ? {ImageType: 'CUSTOM', ImageUrl: text(modelImage.value)}
                                                     : {ImageType: 'PRE_SET'}};
        if (mount.checked)
            p.VolumeMount = {VolumeSourceType: 'CFS', MountPath: text(mountPath.value),
                             CFSConfig: {Id: text(cfsId.value), Path: text(cfsPath.value)}};
        let allowed;
        try {
            allowed = (await call('DescribeModelServiceHotUpdated', JSON.parse(JSON.stringify(p))))
                          .ModelTurboFlag === 'Allowed';
        } catch {
            return;
        }
        hot.disabled = !allowed;
        if (!allowed)
            hot.checked = false;
        hotWhy.textContent = allowed ? '' : t('form.hotForbidden');
    }
    modelVersion.addEventListener('change', async () => {
        checkHot();
        runtime.textContent = '';
        if (!modelVersion.value)
            return;
        try {
            const v = (await call('DescribeTrainingModelVersion',
                                  {TrainingModelVersionId: modelVersion.value})).TrainingModelVersion;
            const img = v.ReasoningImageInfo?.ImageUrl;
            runtime.textContent = t('form.runtimeIs', v.TrainingModelFormat || '',
                                    v.ReasoningEnvironmentSource === 'CUSTOM' && img ? img
                                        : `${v.ReasoningEnvironmentId || 'berth-serve'} (${t('form.runtimeBuiltin')})`);
        } catch (err) {
            ctx.fail(err);
        }
    });

    if (preset) { // "deploy" from the repository: that version chosen
        model.value = preset.id;
        await loadVersions(preset.version);
    }
    if (!editing)
        return;
    // The edit page starts from what the version has.
    const info = editing.ServiceInfo || {};
    desc.value = editing.ServiceDescription || '';
    state.source = info.ModelInfo?.ModelVersionId ? 'model' : info.ImageInfo?.ImageUrl ? 'image' : 'command';
    for (const r of form.querySelectorAll('[data-testid="source"] input'))
        r.checked = r.value === state.source;
    drawSource();
    if (state.source === 'model') {
        model.value = info.ModelInfo.ModelId || '';
        await loadVersions(info.ModelInfo.ModelVersionId);
        if (info.ImageInfo?.ImageType === 'CUSTOM')
            modelImage.value = info.ImageInfo.ImageUrl || '';
        hot.checked = !!info.ModelHotUpdateEnable;
    } else {
        imageUrl.value = info.ImageInfo?.ImageUrl || '';
        command.value = info.Command || '';
        port.value = info.ServicePort ?? '';
    }
    if (info.VolumeMount) {
        mount.checked = true;
        mountBox.hidden = false;
        cfsId.value = info.VolumeMount.CFSConfig?.Id || '';
        cfsPath.value = info.VolumeMount.CFSConfig?.Path || '';
        mountPath.value = info.VolumeMount.MountPath || '';
    }
    if (info.InstanceType)
        spec.value = info.InstanceType;
    if (state.charge !== 'POSTPAID_BY_HOUR') {
        cpu.value = info.Resources?.Cpu ?? '';
        mem.value = info.Resources?.Memory ?? '';
        gpu.value = info.Resources?.Gpu ?? '';
    }
    env.set(info.Env);
    state.scale = info.ScaleMode || 'MANUAL';
    state.strategy = info.ScaleStrategy || 'HPA';
    replicas.value = info.Replicas ?? 1;
    const hpa = info.HorizontalPodAutoscaler;
    if (hpa) {
        hpaMin.value = hpa.MinReplicas ?? '';
        hpaMax.value = hpa.MaxReplicas ?? '';
        upWindow.value = hpa.ScaleUpStabilizationWindowSeconds ?? '';
        downWindow.value = hpa.ScaleDownStabilizationWindowSeconds ?? '';
        metrics.set(hpa.HpaMetrics);
    }
    cron.set(info.CronScaleJobs);
    drawScale();
    logOn.checked = !!info.LogEnable;
    logBox.hidden = !logOn.checked;
    logset.value = info.LogConfig?.LogsetId || '';
    topic.value = info.LogConfig?.TopicId || '';
    const lim = info.ServiceLimit || {};
    rpsOn.checked = !!lim.EnableInstanceRpsLimit;
    rps.value = lim.InstanceRpsLimit ?? '';
    reqOn.checked = !!lim.EnableInstanceReqLimit;
    req.value = lim.InstanceReqLimit ?? '';
    stopOn.checked = !!info.ScheduledAction?.ScheduleStop;
    stopAt.value = rfc3339ToLocal(info.ScheduledAction?.ScheduleStopTime);
    grace.value = info.TerminationGracePeriodSeconds ?? '';
    timeout.value = info.RequestTimeoutSeconds ?? '';
    const ps = info.PreStopCommand || [];
    preStop.value = ps.some((w) => /\s/.test(w)) ? JSON.stringify(ps) : ps.join(' ');
    for (const [n, b] of probes)
        b.set(info.HealthProbe?.[n]);
    initial = collect();
}
