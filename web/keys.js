// keys.js - 访问密钥: API keys with a policy (docs/policy.md). Only the
// administrator's key may make them; the SecretKey is shown once, and
// berthd lists no keys, so a policy is changed by the key's SecretId.
import {call} from './api.js';
import {h, clear} from './dom.js';
import {t} from './i18n.js';

const EXAMPLE = JSON.stringify({
    version: '2.0',
    statement: [{effect: 'allow', action: ['tione:Describe*'], resource: ['*'],
                 condition: {'for_any_value:string_equal': {'qcs:resource_tag': ['team&ads']}}}],
}, null, 2);

// The policy as typed: empty is none; otherwise the API reads the text.
function policyOf(text) {
    const s = text.trim();
    return s === '' ? null : s;
}

export function keysPage(el, ctx) {
    const policy = h('textarea', {rows: 10, class: 'mono', placeholder: EXAMPLE, 'data-testid': 'key-policy'});
    const made = h('pre', {class: 'mono curl', hidden: true, 'data-testid': 'key-made'});
    const createErr = h('div', {class: 'field-error', 'data-testid': 'key-error'});
    const create = h('form', {class: 'card', onsubmit: async (e) => {
        e.preventDefault();
        createErr.textContent = '';
        made.hidden = true;
        const p = {};
        if (policyOf(policy.value) !== null)
            p.Policy = policyOf(policy.value);
        try {
            const r = await call('CreateAccessKey', p);
            made.textContent = `SecretId  ${r.SecretId}\nSecretKey ${r.SecretKey}\n${t('billing.keyOnce')}` +
                               (r.Policy ? `\n\n${r.Policy}` : `\n\n${t('keys.noPolicy')}`);
            made.hidden = false;
        } catch (err) {
            createErr.textContent = `${err.code}: ${err.message}`;
        }
    }},
        h('h2', {}, t('keys.create')), h('p', {class: 'hint'}, t('keys.hint')),
        h('label', {class: 'field'}, h('span', {class: 'label'}, t('keys.policy')), policy),
        h('div', {class: 'buttons'},
          h('button', {type: 'button', onclick: () => { policy.value = EXAMPLE; }}, t('keys.example')),
          h('button', {type: 'submit', class: 'primary', 'data-testid': 'key-create'}, t('keys.create'))),
        createErr, made);

    const sid = h('input', {placeholder: 'AKID…', size: 40, 'data-testid': 'modify-id'});
    const newPolicy = h('textarea', {rows: 8, class: 'mono', 'data-testid': 'modify-policy'});
    const modifyOut = h('div', {'data-testid': 'modify-result'});
    const modify = h('form', {class: 'card', onsubmit: async (e) => {
        e.preventDefault();
        clear(modifyOut);
        try {
            const r = await call('ModifyAccessKeyPolicy', {SecretId: sid.value.trim(), Policy: policyOf(newPolicy.value) ?? ''});
            clear(modifyOut, h('pre', {class: 'mono curl'}, r.Policy || t('keys.noPolicy')));
        } catch (err) {
            clear(modifyOut, h('div', {class: 'field-error'}, `${err.code}: ${err.message}`));
        }
    }},
        h('h2', {}, t('keys.modify')),
        h('label', {class: 'field'}, h('span', {class: 'label'}, 'SecretId'), sid),
        h('label', {class: 'field'}, h('span', {class: 'label'}, t('keys.policyEmpty')), newPolicy),
        h('button', {type: 'submit', class: 'primary', 'data-testid': 'modify-submit'}, t('keys.save')),
        modifyOut);
    clear(el, h('div', {class: 'title'}, h('h1', {}, t('nav.keys'))), create, modify);
}
