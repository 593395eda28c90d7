"use strict";
// What the card's numbers and states look like to a user.
Object.defineProperty(exports, "__esModule", { value: true });
exports.STATUS_NAMES = void 0;
exports.formatFen = formatFen;
exports.formatPoints = formatPoints;
exports.statusName = statusName;
/** Fen (an integer) as yuan: 888 → "¥8.88", 123456 → "¥1,234.56". */
function formatFen(fen) {
    if (typeof fen !== 'number' || !Number.isInteger(fen))
        return '—';
    const sign = fen < 0 ? '-' : '';
    const abs = Math.abs(fen);
    const yuan = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    const cents = String(abs % 100).padStart(2, '0');
    return `${sign}¥${yuan}.${cents}`;
}
function formatPoints(points) {
    return typeof points === 'number' && Number.isFinite(points) ? String(points) : '—';
}
/** WeChat Pay's user_card_status, in the words a user reads. */
exports.STATUS_NAMES = {
    NOT_ACTIVATE: '未激活',
    EFFECTIVE: '正常',
    EXPIRE: '已过期',
    UNAVAILABLE: '已失效',
    DELETE: '已删除',
};
function statusName(status) {
    var _a;
    if (typeof status !== 'string' || !status)
        return '状态未知';
    return (_a = exports.STATUS_NAMES[status]) !== null && _a !== void 0 ? _a : '状态未知';
}
