'use strict';
// A background worker: heavy jobs run here, never in the web process.
const instance = process.env.WORKER_INSTANCE || '1';
let stopping = false;

function tick() {
  if (stopping) return;
  console.log(`worker ${instance}: processed a job`);
}

const timer = setInterval(tick, 30_000);

process.on('SIGTERM', () => {
  stopping = true;
  clearInterval(timer);
  console.log(`worker ${instance}: stopped`);
  process.exit(0);
});
