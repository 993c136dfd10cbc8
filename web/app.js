// app.js - the console's shell: the key, the language, the region, and the
// pages behind #/ addresses.
import {call, session, ApiError} from './api.js';
import {h, clear} from './dom.js';
import {t, lang, setLang} from './i18n.js';
import {listPage} from './list.js';
import {formPage} from './form.js';
import {servicePage} from './service.js';
import {modelsPage} from './models.js';
import {billingPage} from './billing.js';
import {keysPage} from './keys.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let leave = null; // the page's own cleanup (timers), run when another page opens

function header() {
    const s = session.get();
    clear(nav,
        h('a', {href: '#/services', class: 'brand'}, 'Berth'),
        s && h('a', {href: '#/services', 'data-testid': 'nav-services'}, t('nav.services')),
        s && h('a', {href: '#/models', 'data-testid': 'nav-models'}, t('nav.models')),
        s && h('a', {href: '#/billing', 'data-testid': 'nav-billing'}, t('nav.billing')),
        s && h('a', {href: '#/keys', 'data-testid': 'nav-keys'}, t('nav.keys')),
        h('span', {class: 'spacer'}),
        s && h('span', {class: 'who', 'data-testid': 'who'}, `${s.secretId.slice(0, 8)}…`),
        // The region every call names (X-TC-Region); the pages show that region's objects.
        s && h('label', {class: 'region'}, t('field.region'),
               h('input', {value: s.region, size: 14, 'data-testid': 'nav-region', onchange: (e) => {
                   const region = e.target.value.trim();
                   if (region)
                       session.set({...session.get(), region});
                   route();
               }})),
        h('button', {class: 'link', 'data-testid': 'lang',
                     onclick: () => { setLang(lang() === 'zh' ? 'en' : 'zh'); route(); }},
          lang() === 'zh' ? 'English' : '中文'),
        s && h('button', {class: 'link', 'data-testid': 'logout',
                          onclick: () => { session.clear(); location.hash = '#/'; route(); }},
               t('nav.logout')));
}

function loginPage(el) {
    // WebCrypto exists only in a secure context: https, or http to the machine itself.
    if (!window.isSecureContext || !crypto.subtle)
        return clear(el, h('div', {class: 'login card', 'data-testid': 'insecure'},
            h('h1', {}, t('login.title')), h('p', {class: 'error'}, t('login.insecure', location.host))));
    const id = h('input', {name: 'SecretId', autocomplete: 'off', 'data-testid': 'secret-id'});
    const key = h('input', {name: 'SecretKey', type: 'password', autocomplete: 'off',
                            'data-testid': 'secret-key'});
    const region = h('input', {name: 'Region', value: 'ap-guangzhou', 'data-testid': 'region'});
    const msg = h('p', {class: 'error', 'data-testid': 'login-error'});
    const form = h('form', {class: 'login card', onsubmit: async (e) => {
        e.preventDefault();
        msg.textContent = '';
        session.set({secretId: id.value.trim(), secretKey: key.value.trim(),
                     region: region.value.trim()});
        try {
            // Any signed read proves the key; this one is cheap.
            await call('DescribeModelServiceGroups', {Limit: 1});
            route();
        } catch (err) {
            session.clear();
            msg.textContent = `${err.code}: ${err.message}`;
        }
    }},
        h('h1', {}, t('login.title')),
        h('p', {class: 'hint'}, t('login.hint')),
        h('label', {}, 'SecretId', id),
        h('label', {}, 'SecretKey', key),
        h('label', {}, t('field.region'), region),
        msg,
        h('button', {class: 'primary', type: 'submit', 'data-testid': 'login'}, t('login.submit')));
    clear(el, form);
    id.focus();
}

export function route() {
    if (leave) {
        leave();
        leave = null;
    }
    document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title');
    header();
    if (!session.get())
        return loginPage(main);
    const parts = (location.hash.replace(/^#\/?/, '') || 'services').split('/').map(decodeURIComponent);
    const ctx = {
        onLeave(fn) { leave = fn; },
        fail(err) { showError(err); },
    };
    clear(main);
    if (parts[0] === 'services' && parts[1] === 'new')
        return formPage(main, ctx, {model: parts[2] && parts[3] ? {id: parts[2], version: parts[3]} : null});
    if (parts[0] === 'services' && parts[1] && parts[2] === 'edit' && parts[3])
        return formPage(main, ctx, {groupId: parts[1], serviceId: parts[3]});
    if (parts[0] === 'services' && parts[1] && parts[2] === 'new-version')
        return formPage(main, ctx, {groupId: parts[1]});
    if (parts[0] === 'services' && parts[1])
        return servicePage(main, ctx, parts[1]);
    if (parts[0] === 'models')
        return modelsPage(main, ctx);
    if (parts[0] === 'billing')
        return billingPage(main, ctx);
    if (parts[0] === 'keys')
        return keysPage(main, ctx);
    return listPage(main, ctx);
}

// Errors no field owns: a bar over the page, as the API wrote them.
export function showError(err) {
    const bar = document.getElementById('toast');
    const text = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err.message || err);
    clear(bar, h('span', {'data-testid': 'toast'}, text),
        h('button', {class: 'link', onclick: () => { bar.hidden = true; }}, '×'));
    bar.hidden = false;
    if (err instanceof ApiError && err.code.startsWith('AuthFailure')) {
        session.clear();
        route();
    }
}

window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (e) => {
    // Every call a page makes is caught there; one that is not is a bug, and
    // the browser tests fail on it.
    console.error('unhandled', e.reason);
});
route();
