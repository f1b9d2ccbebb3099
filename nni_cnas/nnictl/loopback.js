// Preloaded into NNI's manager (NODE_OPTIONS="--require <this file>") so that its REST server and web
// UI listen on 127.0.0.1 only. NNI 3.0 calls `app.listen(port)` with no host, which binds every
// interface, and it has no authentication; NNI has no option for the host, so the host is added here.
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
    if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
        args.splice(1, 0, process.env.NNI_CNAS_LISTEN_HOST || '127.0.0.1');
    }
    return listen.apply(this, args);
};
