// billing.js - 计费: prices, accounts and their ledger, the usage report,
// and resource groups (docs/billing.md). Creating accounts, their keys and
// top-ups are the administrator's; an account's key sees its own.
import {call} from './api.js';
import {h, clear, confirmRun, promptDialog, fmtTime} from './dom.js';
import {t} from './i18n.js';

// Amounts are fen (1/100 CNY), as TI-ONE's prices.
export function yuan(fen) {
    return `¥${(Number(fen || 0) / 100).toFixed(2)}`;
}

function table(testid, cols, rows, empty) {
    return h('table', {class: 'list', 'data-testid': testid},
        h('thead', {}, h('tr', {}, cols.map((k) => h('th', {}, t(k))))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', {colspan: cols.length, class: 'empty'}, empty))));
}

function monthStart() {
    const d = new Date();
    return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)).toISOString().slice(0, 10);
}

export function billingPage(el, ctx) {
    const specs = h('div', {class: 'card'});
    const accounts = h('div', {class: 'card'});
    const ledger = h('div', {class: 'card'});
    const report = h('div', {class: 'card'});
    const groups = h('div', {class: 'card'});
    let chosen = null; // AccountId whose ledger shows
    clear(el, h('div', {class: 'title'}, h('h1', {}, t('nav.billing'))), accounts, ledger, report, specs, groups);

    async function loadSpecs() {
        try {
            const r = await call('DescribeBillingSpecs', {ChargeType: 'POSTPAID_BY_HOUR'});
            clear(specs, h('h2', {}, t('billing.specs')), table('specs',
                ['col.spec', 'col.resources', 'col.price'],
                r.Specs.map((s) => h('tr', {},
                    h('td', {}, s.SpecName, h('div', {class: 'sub'}, s.SpecAlias)),
                    h('td', {}, `${s.Resources.Cpu / 1000} CPU · ${s.Resources.Memory} MB` +
                                (s.Resources.Gpu ? ` · ${s.Resources.Gpu} GPU ${s.GpuType}` : '')),
                    h('td', {}, `${yuan(s.PricePerHour)} / ${t('billing.hour')}`))), t('billing.none')));
        } catch (err) {
            ctx.fail(err);
        }
    }

    async function loadAccounts() {
        let r;
        try {
            r = await call('DescribeAccounts', {});
        } catch (err) {
            return ctx.fail(err);
        }
        const name = h('input', {placeholder: 'team-a', 'data-testid': 'account-name'});
        const balance = h('input', {type: 'number', placeholder: '0', 'data-testid': 'account-balance'});
        const err = h('span', {class: 'field-error', 'data-testid': 'account-error'});
        const secret = h('pre', {class: 'mono curl', hidden: true, 'data-testid': 'account-key'});
        clear(accounts, h('h2', {}, t('billing.accounts')),
            table('accounts', ['col.account', 'col.balance', 'col.frozen', 'col.available', 'col.ledgerCheck',
                               'col.created', 'col.actions'],
                r.AccountSet.map((a) => h('tr', {'data-account': a.AccountName, class: a.AccountId === chosen ? 'chosen' : ''},
                    h('td', {}, h('button', {class: 'link', onclick: () => { chosen = a.AccountId; loadAccounts(); loadLedger(); }},
                                  a.AccountName), h('div', {class: 'sub'}, a.AccountId)),
                    h('td', {'data-testid': `balance-${a.AccountName}`}, yuan(a.Balance)), h('td', {}, yuan(a.Frozen)),
                    h('td', {}, yuan(a.Available)),
                    h('td', {}, a.LedgerCheck?.Consistent ? t('billing.consistent') : t('billing.mismatch')),
                    h('td', {}, fmtTime(a.CreateTime)),
                    h('td', {class: 'actions'},
                      h('button', {class: 'link', 'data-testid': `topup-${a.AccountName}`, onclick: async () => {
                          const v = await promptDialog(t('billing.topupAmount', a.AccountName), '100.00',
                                                       t('billing.topup'), t('action.cancel'));
                          if (v === null)
                              return;
                          try {
                              await call('TopUpAccount', {AccountId: a.AccountId, Amount: Math.round(Number(v) * 100),
                                                          Note: 'console'});
                          } catch (e) {
                              ctx.fail(e);
                          }
                          chosen = a.AccountId;
                          loadAccounts();
                          loadLedger();
                      }}, t('billing.topup')),
                      h('button', {class: 'link', 'data-testid': `key-${a.AccountName}`, onclick: () => confirmRun(
                          t('billing.keyConfirm', a.AccountName), t('billing.newKey'), t('action.cancel'), async () => {
                              const k = await call('CreateAccountKey', {AccountId: a.AccountId});
                              secret.textContent = `SecretId  ${k.SecretId}\nSecretKey ${k.SecretKey}\n${t('billing.keyOnce')}`;
                              secret.hidden = false;
                          }, ctx.fail, () => {})}, t('billing.newKey'))))), t('billing.none')),
            secret,
            h('form', {class: 'filters', onsubmit: async (e) => {
                e.preventDefault();
                err.textContent = '';
                const p = {AccountName: name.value.trim()};
                if (balance.value.trim())
                    p.Balance = Math.round(Number(balance.value) * 100);
                try {
                    await call('CreateAccount', p);
                    name.value = balance.value = '';
                    loadAccounts();
                } catch (e2) {
                    err.textContent = `${e2.code}: ${e2.message}`;
                }
            }}, name, h('label', {class: 'check'}, t('billing.initial'), balance),
              h('button', {type: 'submit', 'data-testid': 'account-create'}, t('billing.create')), err));
    }

    async function loadLedger() {
        if (!chosen)
            return clear(ledger, h('h2', {}, t('billing.ledger')), h('p', {class: 'hint'}, t('billing.pick')));
        try {
            // the newest 100 rows, newest first (the ledger answers oldest first)
            const n = (await call('DescribeLedger', {AccountId: chosen, Limit: 1})).TotalCount;
            const r = await call('DescribeLedger', {AccountId: chosen, Limit: 100, Offset: Math.max(0, n - 100)});
            r.LedgerSet.reverse();
            clear(ledger, h('h2', {}, t('billing.ledger'), h('span', {class: 'sub'}, ` ${chosen} · ${r.TotalCount}`)),
                table('ledger', ['col.time', 'col.kind', 'col.amount', 'col.balance', 'col.frozen', 'col.service', 'col.note'],
                    r.LedgerSet.map((l) => h('tr', {},
                        h('td', {}, fmtTime(l.Time)), h('td', {}, l.Kind), h('td', {}, yuan(l.Amount)),
                        h('td', {}, yuan(l.Balance)), h('td', {}, yuan(l.Frozen)), h('td', {}, l.ServiceId),
                        h('td', {}, l.Note))), t('billing.none')));
        } catch (err) {
            ctx.fail(err);
        }
    }

    const by = h('select', {'data-testid': 'report-by'},
        h('option', {value: 'account'}, t('billing.byAccount')), h('option', {value: 'service'}, t('billing.byService')),
        h('option', {value: 'tag'}, t('billing.byTag')));
    const tagKey = h('input', {placeholder: 'team', size: 10, 'data-testid': 'report-tag'});
    const from = h('input', {type: 'date', value: monthStart(), 'data-testid': 'report-from'});
    const to = h('input', {type: 'date', 'data-testid': 'report-to'});
    const out = h('div', {});
    async function loadReport() {
        const p = {GroupBy: by.value === 'tag' ? `tag:${tagKey.value.trim()}` : by.value};
        if (from.value)
            p.StartTime = `${from.value}T00:00:00Z`;
        if (to.value)
            p.EndTime = `${to.value}T00:00:00Z`;
        try {
            const r = await call('DescribeUsageReport', p);
            clear(out, h('p', {'data-testid': 'report-total'}, t('billing.total', yuan(r.TotalAmount),
                                                                   (r.TotalInstanceMs / 3600000).toFixed(2))),
                table('report', ['col.key', 'col.amount', 'col.instanceHours'],
                    (r.Items || []).map((i) => h('tr', {},
                        h('td', {}, i.Key ?? i.AccountId ?? i.ServiceId ?? ''), h('td', {}, yuan(i.Amount)),
                        h('td', {}, ((i.InstanceMs || 0) / 3600000).toFixed(2)))), t('billing.none')));
        } catch (err) {
            clear(out, h('p', {class: 'error', 'data-testid': 'report-error'}, `${err.code}: ${err.message}`));
        }
    }
    clear(report, h('h2', {}, t('billing.report')),
        h('div', {class: 'filters'}, by, tagKey, from, '—', to,
          h('button', {onclick: loadReport, 'data-testid': 'report-run'}, t('list.search'))), out);

    async function loadGroups() {
        try {
            const r = await call('DescribeBillingResourceGroups', {Limit: 100});
            clear(groups, h('h2', {}, t('billing.groups')), table('resource-groups',
                ['col.name', 'col.nodes', 'col.used', 'col.total'],
                (r.ResourceGroupSet || []).map((g) => h('tr', {},
                    h('td', {}, g.ResourceGroupName, h('div', {class: 'sub'}, g.ResourceGroupId)),
                    h('td', {}, `${g.FreeInstance} / ${g.TotalInstance}`),
                    h('td', {}, `${(g.UsedResource?.Cpu ?? 0) / 1000} CPU · ${g.UsedResource?.Memory ?? 0} MB`),
                    h('td', {}, `${(g.TotalResource?.Cpu ?? 0) / 1000} CPU · ${g.TotalResource?.Memory ?? 0} MB`))),
                t('billing.noGroups')));
        } catch (err) {
            ctx.fail(err);
        }
    }

    loadAccounts();
    loadLedger();
    loadReport();
    loadSpecs();
    loadGroups();
}
