"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.getConfig = exports.configure = void 0;
// The plugin's `main`: what a host gets from `requirePlugin('memberCard')`.
var config_1 = require("./lib/config");
Object.defineProperty(exports, "configure", { enumerable: true, get: function () { return config_1.configure; } });
Object.defineProperty(exports, "getConfig", { enumerable: true, get: function () { return config_1.getConfig; } });
