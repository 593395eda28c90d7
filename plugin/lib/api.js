"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.getOpenCardParams = exports.updateBackground = exports.getMyCard = exports.ApiError = void 0;
exports.call = call;
// The plugin's only way out: our HTTP contract over wx.request (against the plugin's own
// request-domain list). Every failure becomes an ApiError the component can show.
const config_1 = require("./config");
class ApiError extends Error {
    constructor(kind, status, code, message) {
        super(message);
        this.kind = kind;
        this.status = status;
        this.code = code;
    }
}
exports.ApiError = ApiError;
async function call(method, path, body) {
    const config = (0, config_1.getConfig)();
    if (!config)
        throw new ApiError('config', 0, 'NOT_CONFIGURED', 'memberCard.configure({ baseUrl, getToken }) was not called');
    let token;
    try {
        token = await config.getToken();
    }
    catch (_a) {
        token = undefined;
    }
    const header = { Accept: 'application/json' };
    if (token)
        header.Authorization = `Bearer ${token}`;
    if (body)
        header['Content-Type'] = 'application/json';
    return new Promise((resolve, reject) => {
        var _a;
        wx.request(Object.assign(Object.assign({ url: config.baseUrl + path, method,
            header }, (body ? { data: body } : {})), { dataType: 'json', timeout: (_a = config.timeout) !== null && _a !== void 0 ? _a : 10000, success(res) {
                const data = res.data;
                if (res.statusCode >= 200 && res.statusCode < 300 && data && typeof data === 'object') {
                    resolve(data);
                    return;
                }
                const error = (data && typeof data === 'object' ? data : {});
                reject(new ApiError('http', res.statusCode, typeof error.code === 'string' ? error.code : `HTTP_${res.statusCode}`, typeof error.message === 'string' ? error.message : `HTTP ${res.statusCode}`));
            },
            fail(res) {
                reject(new ApiError('network', 0, 'NETWORK', res.errMsg || 'request:fail'));
            } }));
    });
}
const getMyCard = () => call('GET', '');
exports.getMyCard = getMyCard;
const updateBackground = (url) => call('PUT', '', { background_picture_url: url });
exports.updateBackground = updateBackground;
const getOpenCardParams = () => call('GET', '/open');
exports.getOpenCardParams = getOpenCardParams;
