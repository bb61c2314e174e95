'use strict';
// A tiny production-shaped web server: listens where deployer says, answers
// /healthz, drains connections on SIGTERM, and tells pm2 when it is ready.
const http = require('node:http');
const os = require('node:os');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
// deployer writes the release id into REVISION in the release directory.
const release = (() => {
  try {
    return require('node:fs').readFileSync('REVISION', 'utf8').trim();
  } catch {
    return 'dev';
  }
})();
let shuttingDown = false;

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(shuttingDown ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(shuttingDown ? 'draining\n' : 'ok\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`hello from ${release} on ${os.hostname()} port ${port} (pid ${process.pid})\n`);
});

server.keepAliveTimeout = 65_000;

server.listen(port, host, () => {
  console.log(`listening on ${host}:${port}`);
  if (process.send) process.send('ready');
});

function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`${signal}: draining connections`);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 10_000).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
