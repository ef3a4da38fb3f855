// A tiny app for p2 demos and tests: reads `port:` and `greeting:` from the YAML file at CONFIG_PATH,
// serves the greeting on `/`, health on `/_status` and request counters on `/metrics`. No dependencies, so it runs on any Node >= 18.
const { createServer } = require('node:http');
const { readFileSync } = require('node:fs');

const configPath = process.env.CONFIG_PATH;
if (!configPath) {
  console.error('hello: CONFIG_PATH is not set (run me under p2)');
  process.exit(2);
}
const text = readFileSync(configPath, 'utf8');
const field = (name) => {
  const match = new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(text);
  return match ? match[1].trim().replace(/^["']|["']$/g, '') : undefined;
};
const port = Number(field('port') ?? 8080);
const greeting = field('greeting') ?? 'hello from p2';
const started = new Date().toISOString();
// `error_ratio: 0.5` makes a broken version that still passes its status check: that share of its
// requests count as errors in /metrics (for metric-gated rollouts).
const errorRatio = Math.min(1, Math.max(0, Number(field('error_ratio') ?? 0) || 0));
let requests = 0;
let errors = 0;
let errorCredit = 0;

createServer((req, res) => {
  requests++;
  errorCredit += errorRatio;
  if (errorCredit >= 1) {
    errors++;
    errorCredit -= 1;
  }
  if (req.url === '/metrics') {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      `# TYPE hello_requests_total counter\nhello_requests_total ${requests}\n# TYPE hello_errors_total counter\nhello_errors_total ${errors}\n`,
    );
    return;
  }
  const exit = /^\/exit\/(\d{1,3})$/.exec(req.url ?? '');
  if (exit) {
    // P2's hello app: /exit/N ends the process with code N (used to test exit reporting).
    req.socket.destroy();
    process.exit(Number(exit[1]));
  }
  if (req.url === '/_status') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', pod: process.env.POD_ID, started, pid: process.pid }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${greeting}\n`);
}).listen(port, '127.0.0.1', () => {
  console.log(
    `hello: listening on 127.0.0.1:${port} as uid ${process.getuid?.()} (pod ${process.env.POD_ID})`,
  );
});
process.on('SIGTERM', () => process.exit(0));
