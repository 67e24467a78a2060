"""Bootstrap that runs user JavaScript inside the jail (passed to ``node -e``).

Node runs with its permission model (file system limited to the scratch directory, no child
processes, workers, native addons or inspector). The bootstrap reads ``{"code", "inputs"}``
as JSON from stdin, compiles the code as a function body named ``main.js`` (so stack traces
carry user line numbers), awaits ``main(inputs)`` and writes the same one-message protocol as
the Python bootstrap to fd 3.
"""

from __future__ import annotations

from typing import Final

SOURCE: Final = r"""
'use strict';
const fs = require('fs');
const vm = require('vm');
let sent = false;
function send(obj) {
  sent = true;
  const buf = Buffer.from(JSON.stringify(obj), 'utf8');
  let off = 0;
  while (off < buf.length) off += fs.writeSync(3, buf, off);
}
function fail(kind, message) { send({ ok: false, kind, message }); process.exit(0); }
const NET_CODES = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'ECONNREFUSED', 'EADDRNOTAVAIL']);
const DENIED = {
  FileSystemRead: 'File system access outside the scratch directory is not allowed',
  FileSystemWrite: 'File system access outside the scratch directory is not allowed',
  ChildProcess: 'Process creation is not allowed',
  WorkerThreads: 'Worker threads are not allowed',
};
function userLine(err) {
  const stack = err && typeof err.stack === 'string' ? err.stack : '';
  const m = /main\.js:(\d+)/.exec(stack);
  return m ? Number(m[1]) : null;
}
function withLine(text, err) {
  const line = userLine(err);
  return line === null ? text : text + ' (line ' + line + ')';
}
function report(err) {
  if (err instanceof Error || (err && typeof err === 'object')) {
    const code = err.code || (err.cause && err.cause.code);
    if (err.code === 'ERR_ACCESS_DENIED') {
      fail('violation', withLine(DENIED[err.permission] || 'Access denied', err));
    }
    if (NET_CODES.has(code)) fail('violation', withLine('Network access is not allowed', err));
    if (err instanceof RangeError && /allocation failed/i.test(String(err.message))) {
      fail('memory', 'Memory limit exceeded');
    }
    const name = err.name || 'Error';
    fail('error', withLine(err.message ? name + ': ' + err.message : name, err));
  }
  fail('error', 'Uncaught ' + String(err));
}
process.on('uncaughtException', report);
process.on('unhandledRejection', report);
process.on('exit', () => {
  if (!sent) send({ ok: false, kind: 'error', message: 'main() never returned a result' });
});
const payload = JSON.parse(fs.readFileSync(0, 'utf8'));
let main;
try {
  const body = payload.code + '\n;return typeof main === "function" ? main : undefined;';
  const factory = vm.compileFunction(body, ['require', 'module', 'exports'],
    { filename: 'main.js' });
  const mod = { exports: {} };
  main = factory(require, mod, mod.exports);
  if (typeof main !== 'function' && mod.exports) main = mod.exports.main;
} catch (err) {
  report(err);
}
if (typeof main !== 'function') fail('error', 'The code must define a function named main');
Promise.resolve()
  .then(() => main(payload.inputs))
  .then((result) => {
    const value = result === undefined ? null : result;
    let text;
    try {
      text = JSON.stringify(value);
    } catch (err) {
      fail('result', 'Result is not JSON serializable: ' + err.message);
    }
    if (text === undefined) text = 'null';
    const buf = Buffer.from('{"ok":true,"result":' + text + '}', 'utf8');
    let off = 0;
    sent = true;
    while (off < buf.length) off += fs.writeSync(3, buf, off);
    process.exit(0);
  }, report);
"""
