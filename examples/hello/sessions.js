'use strict';
// Sessions kept in Redis, not in the process: any instance on any host reads
// what another wrote. A minimal RESP client (SET with a TTL, GET) keeps the
// example free of dependencies; a real app would use a Redis library.
const net = require('node:net');

const TTL_SECONDS = 24 * 60 * 60;

// One command on one connection: AUTH, then the command, then QUIT.
function call(url, args) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port || 6379), url.hostname);
    const encode = (words) =>
      `*${words.length}\r\n` + words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('');
    const password = decodeURIComponent(url.password);
    let buffer = Buffer.alloc(0);
    const replies = [];
    socket.setTimeout(2000, () => socket.destroy(new Error('redis timed out')));
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      let reply;
      while ((reply = parse(buffer))) {
        replies.push(reply.value);
        buffer = buffer.subarray(reply.length);
      }
      if (replies.length >= 2) {
        socket.end();
        if (replies[0] instanceof Error) reject(replies[0]);
        else if (replies[1] instanceof Error) reject(replies[1]);
        else resolve(replies[1]);
      }
    });
    socket.write(encode(['AUTH', password]) + encode(args));
  });
}

// One reply from the front of `bytes`: simple strings, errors, bulk strings.
function parse(bytes) {
  const end = bytes.indexOf('\r\n');
  if (end < 0) return null;
  const kind = String.fromCharCode(bytes[0]);
  const line = bytes.subarray(1, end).toString('utf8');
  if (kind === '+') return { value: line, length: end + 2 };
  if (kind === '-') return { value: new Error(line), length: end + 2 };
  if (kind === '$') {
    const size = Number(line);
    if (size < 0) return { value: null, length: end + 2 };
    if (bytes.length < end + 2 + size + 2) return null;
    const value = bytes.subarray(end + 2, end + 2 + size).toString('utf8');
    return { value, length: end + 2 + size + 2 };
  }
  return { value: new Error(`unexpected reply ${kind}`), length: end + 2 };
}

function store(redisUrl) {
  const url = new URL(redisUrl);
  const key = (id) => `session:${id}`;
  return {
    save: (id, value) => call(url, ['SET', key(id), value, 'EX', String(TTL_SECONDS)]),
    load: (id) => call(url, ['GET', key(id)]),
  };
}

module.exports = { store };
