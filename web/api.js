// api.js - the management API, as any TI-ONE client calls it: POST / with
// TC3-signed headers; errors come back in the envelope with their Code and
// Message, which the pages show as the API wrote them.
import {sign} from './tc3.js';

export const VERSION = '2021-11-11';

export class ApiError extends Error {
    constructor(code, message, requestId) {
        super(message);
        this.code = code;
        this.requestId = requestId;
    }
}

const KEY = 'berth.console.session';

// The key lives in this tab's sessionStorage only: gone when the tab closes,
// never in a cookie, never sent.
export const session = {
    get() {
        try {
            return JSON.parse(sessionStorage.getItem(KEY)) || null;
        } catch {
            return null;
        }
    },
    set(s) { sessionStorage.setItem(KEY, JSON.stringify(s)); },
    clear() { sessionStorage.removeItem(KEY); },
};

export async function call(action, params = {}, region) {
    const s = session.get();
    if (!s)
        throw new ApiError('AuthFailure.InvalidAuthorization', 'no key entered');
    const body = JSON.stringify(params);
    const headers = await sign({secretId: s.secretId, secretKey: s.secretKey, host: location.host,
                                action, version: VERSION, region: region || s.region, body});
    const res = await fetch('/', {method: 'POST', headers, body, cache: 'no-store'});
    let data;
    try {
        data = await res.json();
    } catch {
        throw new ApiError('InternalError', `HTTP ${res.status}: the answer is not JSON`);
    }
    const r = data && data.Response;
    if (!r)
        throw new ApiError('InternalError', `HTTP ${res.status}: no Response in the answer`);
    if (r.Error)
        throw new ApiError(r.Error.Code, r.Error.Message, r.RequestId);
    return r;
}
