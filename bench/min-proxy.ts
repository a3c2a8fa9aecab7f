/**
 * The baseline of `npm run bench:proxy`: about the least a Node reverse proxy can do — node:http
 * in, undici Pool out, round-robin over the backends, body and headers passed through as they
 * come. No routing, retries, metrics or logging: what is left is Node's HTTP server and undici.
 *
 *   node dist/bench/min-proxy.js PORT BACKEND_PORT...
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, ...backends] = process.argv.slice(2).map(Number);
if (port === undefined || backends.length === 0 || Number.isNaN(port)) {
  process.stderr.write('usage: min-proxy PORT BACKEND_PORT...\n');
  process.exit(2);
}
const pools = backends.map((p) => new Pool(`http://127.0.0.1:${p}`, { connections: 256, pipelining: 1 }));
let turn = 0;
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const pool = pools[turn++ % pools.length];
    pool.request({ method: 'POST', path: req.url ?? '/', headers: { 'content-type': req.headers['content-type'] ?? 'application/json' }, body: Buffer.concat(chunks) }).then(
      (up) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(up.headers)) if (typeof v === 'string' && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding') headers[k] = v;
        res.writeHead(up.statusCode, headers);
        up.body.on('data', (c: Buffer) => res.write(c));
        up.body.on('end', () => res.end());
        up.body.on('error', () => res.destroy());
      },
      () => {
        res.writeHead(502);
        res.end();
      },
    );
  });
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening on ${port}\n`));
