// dom.js - building elements without HTML strings: every text a service,
// a log line or an error brings is a text node, never markup.

export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false)
            continue;
        if (k.startsWith('on'))
            el.addEventListener(k.slice(2), v);
        else if (k === 'class')
            el.className = v;
        else if (k === 'value')
            el.value = v;
        else if (k === 'checked')
            el.checked = !!v;
        else
            el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === undefined || c === null || c === false)
            continue;
        if (Array.isArray(c))
            append(el, c);
        else
            el.append(c instanceof Node ? c : String(c));
    }
}

export function clear(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
}

// A modal confirmation; resolves true when the user confirms.
export function confirmDialog(message, okLabel, cancelLabel) {
    return new Promise((resolve) => {
        const dlg = h('dialog', {class: 'confirm', 'data-testid': 'confirm'},
            h('p', {}, message),
            h('div', {class: 'buttons'},
                h('button', {class: 'primary', 'data-testid': 'confirm-ok',
                             onclick: () => { dlg.close(); resolve(true); }}, okLabel),
                h('button', {'data-testid': 'confirm-cancel',
                             onclick: () => { dlg.close(); resolve(false); }}, cancelLabel)));
        dlg.addEventListener('close', () => { dlg.remove(); resolve(false); });
        document.body.append(dlg);
        dlg.showModal();
    });
}

// A modal asking for one value; resolves the string, or null when cancelled.
export function promptDialog(message, initial, okLabel, cancelLabel) {
    return new Promise((resolve) => {
        const input = h('input', {value: initial ?? '', 'data-testid': 'prompt-input'});
        const dlg = h('dialog', {class: 'confirm', 'data-testid': 'prompt'},
            h('label', {}, message, input),
            h('div', {class: 'buttons'},
                h('button', {class: 'primary', 'data-testid': 'prompt-ok',
                             onclick: () => { dlg.close(); resolve(input.value); }}, okLabel),
                h('button', {'data-testid': 'prompt-cancel',
                             onclick: () => { dlg.close(); resolve(null); }}, cancelLabel)));
        dlg.addEventListener('close', () => { dlg.remove(); resolve(null); });
        document.body.append(dlg);
        dlg.showModal();
        input.focus();
    });
}

export function fmtTime(iso) {
    if (!iso)
        return '';
    const d = new Date(iso);
    if (isNaN(d))
        return iso;
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
           `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// Ask, then run one call: its failure goes to 'fail', and 'done' (a
// refresh) follows either way.
export async function confirmRun(message, okLabel, cancelLabel, run, fail, done) {
    if (!await confirmDialog(message, okLabel, cancelLabel))
        return;
    try {
        await run();
    } catch (err) {
        fail(err);
    }
    done();
}
