// tc3.js - TC3-HMAC-SHA256 request signing in the browser (WebCrypto), as
// Tencent Cloud's SDKs sign: the key never leaves this page; only the
// signature goes out.

const enc = new TextEncoder();

function hex(buf) {
    return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256Hex(text) {
    return hex(await crypto.subtle.digest('SHA-256', enc.encode(text)));
}

async function hmac(key, text) {
    const k = await crypto.subtle.importKey('raw', typeof key === 'string' ? enc.encode(key) : key,
                                            {name: 'HMAC', hash: 'SHA-256'}, false, ['sign']);
    return crypto.subtle.sign('HMAC', k, enc.encode(text));
}

// The headers of one signed POST / with a JSON body. 'host' is what the
// browser sends as Host (location.host: the console is served by the API).
export async function sign({secretId, secretKey, host, action, version, region, body, service,
                            timestamp}) {
    const ts = timestamp ?? Math.floor(Date.now() / 1000);
    const date = new Date(ts * 1000).toISOString().slice(0, 10);
    const svc = service || 'tione';
    const contentType = 'application/json';
    const canonical = ['POST', '/', '', `content-type:${contentType}\nhost:${host}\n`,
                       'content-type;host', await sha256Hex(body)].join('\n');
    const scope = `${date}/${svc}/tc3_request`;
    const toSign = ['TC3-HMAC-SHA256', String(ts), scope, await sha256Hex(canonical)].join('\n');
    const kDate = await hmac('TC3' + secretKey, date);
    const kService = await hmac(kDate, svc);
    const kSigning = await hmac(kService, 'tc3_request');
    const signature = hex(await hmac(kSigning, toSign));
    return {
        'Authorization': `TC3-HMAC-SHA256 Credential=${secretId}/${scope}, ` +
                         `SignedHeaders=content-type;host, Signature=${signature}`,
        'Content-Type': contentType,
        'X-TC-Action': action,
        'X-TC-Version': version,
        'X-TC-Region': region,
        'X-TC-Timestamp': String(ts),
    };
}
