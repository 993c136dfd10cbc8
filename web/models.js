// models.js - 模型仓库: the models, their versions, and importing one (a
// directory on berthd's machine, under an import root).
import {call} from './api.js';
import {h, clear, confirmRun, fmtTime} from './dom.js';
import {t} from './i18n.js';

const FORMATS = ['XGBOOST', 'TORCH_SCRIPT', 'PYTORCH', 'ONNX', 'SAVED_MODEL', 'PMML', 'HUGGING_FACE_BERT'];

export function modelsPage(el, ctx) {
    const list = h('div', {});
    const errBox = h('div', {class: 'field-error', 'data-testid': 'import-error'});
    const method = h('select', {'data-testid': 'import-method'},
        h('option', {value: 'MODEL'}, t('models.newModel')),
        h('option', {value: 'VERSION'}, t('models.newVersionOf')));
    const modelPick = h('select', {'data-testid': 'import-model', hidden: true});
    const name = h('input', {'data-testid': 'import-name', placeholder: 'my-model'});
    const label = h('input', {'data-testid': 'import-version', placeholder: 'v1'});
    const path = h('input', {'data-testid': 'import-path', placeholder: '/srv/models/churn/1'});
    const format = h('select', {'data-testid': 'import-format'}, FORMATS.map((f) => h('option', {value: f}, f)));
    const autoClean = h('input', {type: 'checkbox', 'data-testid': 'import-autoclean'});
    const keep = h('input', {type: 'number', placeholder: '24', size: 5, 'data-testid': 'import-keep'});
    const period = h('input', {type: 'number', placeholder: '1', size: 5, 'data-testid': 'import-period'});
    const move = h('select', {'data-testid': 'import-move'},
        h('option', {value: 'COPY'}, t('models.copy')), h('option', {value: 'CUT'}, t('models.cut')));
    method.addEventListener('change', () => {
        modelPick.hidden = method.value !== 'VERSION';
        name.disabled = method.value === 'VERSION';
    });
    const form = h('form', {class: 'card import', onsubmit: async (e) => {
        e.preventDefault();
        errBox.textContent = '';
        const p = {ImportMethod: method.value, ReasoningEnvironmentSource: 'SYSTEM', ModelFormat: format.value,
                   TrainingModelCosPath: {Bucket: '', Region: '', Paths: [path.value.trim()]},
                   ModelMoveMode: move.value};
        if (method.value === 'MODEL')
            p.TrainingModelName = name.value.trim();
        else
            p.TrainingModelId = modelPick.value;
        if (label.value.trim())
            p.TrainingModelVersion = label.value.trim();
        if (autoClean.checked) {
            p.AutoClean = 'true';
            if (keep.value.trim())
                p.MaxReservedModels = Number(keep.value);
            if (period.value.trim())
                p.ModelCleanPeriod = Number(period.value);
        }
        try {
            await call('CreateTrainingModel', p);
            path.value = '';
            load();
        } catch (err) {
            errBox.textContent = `${err.code}: ${err.message}`;
        }
    }},
        h('h2', {}, t('models.import')),
        h('div', {class: 'inline'},
          h('label', {}, h('span', {class: 'label'}, t('models.method')), method, modelPick),
          h('label', {}, h('span', {class: 'label'}, t('models.name')), name),
          h('label', {}, h('span', {class: 'label'}, t('models.version')), label),
          h('label', {}, h('span', {class: 'label'}, t('models.path')), path),
          h('label', {}, h('span', {class: 'label'}, t('models.format')), format),
          h('label', {}, h('span', {class: 'label'}, t('models.move')), move),
          h('label', {}, h('span', {class: 'label'}, t('models.autoClean')), autoClean),
          h('label', {}, h('span', {class: 'label'}, t('models.maxReserved')), keep),
          h('label', {}, h('span', {class: 'label'}, t('models.cleanPeriod')), period)),
        h('div', {class: 'hint'}, t('models.pathHint')),
        errBox,
        h('button', {class: 'primary', type: 'submit', 'data-testid': 'import-submit'}, t('models.importSubmit')));

    async function load() {
        let r;
        try {
            r = await call('DescribeTrainingModels', {Limit: 100});
        } catch (err) {
            return ctx.fail(err);
        }
        const models = r.TrainingModels || [];
        clear(modelPick, models.map((m) => h('option', {value: m.TrainingModelId}, m.TrainingModelName)));
        const blocks = await Promise.all(models.map(async (m) => {
            let vs = [];
            try {
                vs = (await call('DescribeTrainingModelVersions', {TrainingModelId: m.TrainingModelId}))
                         .TrainingModelVersions || [];
            } catch (err) {
                ctx.fail(err);
            }
            return h('div', {class: 'card', 'data-model': m.TrainingModelName},
                h('h3', {}, m.TrainingModelName, h('span', {class: 'sub'}, ` ${m.TrainingModelId} · ${fmtTime(m.CreateTime)}`),
                  h('button', {class: 'link danger', onclick: () => confirmRun(
                      t('confirm.deleteModel', m.TrainingModelName), t('action.delete'), t('action.cancel'),
                      () => call('DeleteTrainingModel', {TrainingModelId: m.TrainingModelId}), ctx.fail, load)},
                    t('action.delete'))),
                h('table', {class: 'list'},
                  h('thead', {}, h('tr', {}, ['col.version', 'col.format', 'col.status', 'col.runtime', 'col.path',
                                              'col.created', 'col.actions'].map((k) => h('th', {}, t(k))))),
                  h('tbody', {}, vs.map((v) => h('tr', {'data-version': v.TrainingModelVersionId},
                      h('td', {}, v.TrainingModelVersion, h('div', {class: 'sub'}, v.TrainingModelVersionId)),
                      h('td', {}, v.TrainingModelFormat),
                      h('td', {'data-testid': `model-status-${v.TrainingModelVersionId}`}, t(`model.${v.TrainingModelStatus}`),
                        v.TrainingModelErrorMsg && h('div', {class: 'sub error'}, v.TrainingModelErrorMsg)),
                      h('td', {}, v.ReasoningEnvironmentId || v.ReasoningEnvironmentSource || ''),
                      h('td', {class: 'mono'}, (v.TrainingModelCosPath?.Paths || []).join(' ')),
                      h('td', {}, fmtTime(v.CreateTime)),
                      h('td', {class: 'actions'},
                        h('a', {class: 'link', href: `#/services/new/${m.TrainingModelId}/${v.TrainingModelVersionId}`,
                                'data-testid': `deploy-${v.TrainingModelVersionId}`}, t('models.deploy')),
                        h('button', {class: 'link danger', onclick: () => confirmRun(
                            t('confirm.deleteModelVersion', v.TrainingModelVersion), t('action.delete'),
                            t('action.cancel'), () => call('DeleteTrainingModelVersion',
                                                           {TrainingModelVersionId: v.TrainingModelVersionId}),
                            ctx.fail, load)}, t('action.delete'))))))));
        }));
        clear(list, blocks.length ? blocks : h('p', {class: 'empty'}, t('models.empty')));
    }

    clear(el, h('div', {class: 'title'}, h('h1', {}, t('nav.models'))), form, list);
    load();
    const timer = setInterval(() => {
        if (!list.querySelector('[data-testid^="model-status-"]') ||
            [...list.querySelectorAll('[data-testid^="model-status-"]')].some((e) => e.textContent === t('model.STATUS_RUNNING')))
            load();
    }, 3000);
    ctx.onLeave(() => clearInterval(timer));
}
