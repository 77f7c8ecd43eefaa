// The benchmark's view counter on express 4 + express-session 1.18 +
// connect-redis 7 + redis 4, one Node process: resave false,
// saveUninitialized false, everything else default. With --pg URL (or
// PG_URL) the store is connect-pg-simple 10 on pg 8 instead (a pg.Pool of
// its default size, createTableIfMissing: true).
'use strict';

const express = require('express');
const session = require('express-session');

function arg(name, env, def) {
  const i = process.argv.indexOf('--' + name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  return process.env[env] || def;
}

const addr = arg('addr', 'BENCH_ADDR', '127.0.0.1:8080');
const redisAddr = arg('redis', 'REDIS_ADDR', '127.0.0.1:6379');
const pgURL = arg('pg', 'PG_URL', '');
const secret = arg('secret', 'BENCH_SECRET', 'bench-secret-bench-secret-bench-secret');
const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];

async function newStore() {
  if (pgURL) {
    const pg = require('pg');
    const PgStore = require('connect-pg-simple')(session);
    const pool = new pg.Pool({ connectionString: pgURL });
    pool.on('error', (err) => console.error('pg:', err.message));
    return new PgStore({ pool, createTableIfMissing: true });
  }
  const RedisStore = require('connect-redis').default;
  const { createClient } = require('redis');
  const client = createClient({ url: 'redis://' + redisAddr });
  client.on('error', (err) => console.error('redis:', err.message));
  await client.connect();
  return new RedisStore({ client });
}

async function main() {
  const store = await newStore();
  const app = express();
  app.disable('x-powered-by');
  app.use(session({
    store,
    secret,
    resave: false,
    saveUninitialized: false,
  }));

  const text = (res, body) => res.type('text/plain').send(body);

  app.get('/', (req, res) => {
    req.session.views = (req.session.views || 0) + 1;
    text(res, `Number of views: ${req.session.views}\n`);
  });
  app.get('/read', (req, res) => {
    text(res, `Number of views: ${req.session.views || 0}\n`);
  });
  app.all('/login', express.urlencoded({ extended: false }), (req, res, next) => {
    const user = String((req.body && req.body.user) || req.query.user || '').trim();
    if (!user || user.length > 128) return res.status(400).type('text/plain').send('user is required (at most 128 bytes)\n');
    const views = req.session.views;
    req.session.regenerate((err) => {
      if (err) return next(err);
      if (views) req.session.views = views;
      req.session.user = user;
      text(res, `Logged in as ${user}\n`);
    });
  });
  app.all('/logout', (req, res, next) => {
    req.session.destroy((err) => {
      if (err) return next(err);
      res.clearCookie('connect.sid');
      text(res, 'Logged out\n');
    });
  });
  app.get('/whoami', (req, res) => {
    if (!req.session.user) return res.status(401).type('text/plain').send('not logged in\n');
    text(res, `${req.session.user}\n`);
  });

  app.listen(port, host, () => console.log(`express listening on ${addr} (${pgURL ? 'postgres' : 'redis ' + redisAddr})`));
}

main().catch((err) => { console.error(err); process.exit(1); });
