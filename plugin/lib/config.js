"use strict";
// What the host mini-program hands the plugin through `requirePlugin('memberCard').configure(...)`.
// A plugin cannot log in by itself, so the host owns the session and lends us its token.
Object.defineProperty(exports, "__esModule", { value: true });
exports.configure = configure;
exports.getConfig = getConfig;
let current = null;
function configure(config) {
    if (!config || typeof config !== 'object')
        throw new TypeError('memberCard.configure: pass { baseUrl, getToken }');
    const { baseUrl, getToken, onUnauthenticated, timeout } = config;
    if (typeof baseUrl !== 'string' || !/^https?:\/\//.test(baseUrl)) {
        throw new TypeError('memberCard.configure: baseUrl must be the http(s) URL of the member-card routes');
    }
    if (typeof getToken !== 'function')
        throw new TypeError('memberCard.configure: getToken must be a function');
    if (onUnauthenticated !== undefined && typeof onUnauthenticated !== 'function') {
        throw new TypeError('memberCard.configure: onUnauthenticated must be a function');
    }
    if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0)) {
        throw new TypeError('memberCard.configure: timeout must be a positive number of milliseconds');
    }
    current = { baseUrl: baseUrl.replace(/\/+$/, ''), getToken, onUnauthenticated, timeout };
    return current;
}
/** The configuration, or null before the host called configure(). */
function getConfig() {
    return current;
}
