'use strict';
// A tiny production-shaped web server: listens where deployer says, answers
// /healthz, drains connections on SIGTERM, and tells pm2 when it is ready.
const http = require('node:http');
const os = require('node:os');
const sessions = process.env.REDIS_URL ? require('./sessions').store(process.env.REDIS_URL) : null;

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
  const session = /^\/session\/([A-Za-z0-9_-]{1,64})$/.exec(req.url);
  if (session) {
    handleSession(req, res, session[1]);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`hello from ${release} on ${os.hostname()} port ${port} (pid ${process.pid})\n`);
});

// PUT /session/ID stores the request body; GET /session/ID reads it back,
// from whichever instance answers.
function handleSession(req, res, id) {
  const reply = (status, text) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(text);
  };
  if (!sessions) return reply(501, 'no session store: set services.redis\n');
  const failed = (e) => reply(503, `session store: ${e.message}\n`);
  if (req.method === 'GET') {
    sessions.load(id).then((value) => (value === null ? reply(404, 'no such session\n') : reply(200, value)), failed);
    return;
  }
  if (req.method !== 'PUT') return reply(405, 'GET or PUT\n');
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    body += chunk;
    if (body.length > 4096) req.destroy();
  });
  req.on('end', () => sessions.save(id, body).then(() => reply(204, ''), failed));
}

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
